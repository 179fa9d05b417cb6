"""`kfp-ct run`: run a pipeline locally with kfp.local, MLflow on sqlite and a local KServe server.

The terminal gets one line per step and the summary; the runner's whole log goes to
`$KFP_CT_HOME/runs/<run-id>/run.log` (streamed too with `-v`), and the run report to
`report.html` beside it. With `--json` the last stdout line is the JSON summary and the runner's
log streams to stderr, as before.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

DEFAULT_DATA_ROWS = 5000
log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `run` command."""
    p = subparsers.add_parser("run", help="run a pipeline on this machine (no cluster, no Docker)")
    p.add_argument("--pipeline", default="continuous-training", help="pipeline name (default: %(default)s)")
    p.add_argument("--data", help="CSV/Parquet path or URI (default: built-in synthetic data)")
    p.add_argument("--label", default="label", help="target column (default: %(default)s)")
    p.add_argument("--reference", help="reference data for drift checks (retraining)")
    p.add_argument(
        "--schema",
        help="schema to validate against: a kfp-ct schema JSON or a pandera DataFrameSchema YAML/JSON",
    )
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="pipeline parameter, typed by the pipeline's signature (repeatable)",
    )
    p.add_argument(
        "--notify",
        metavar="URL",
        help="webhook for the run's outcome (the notify_url parameter; see docs/notifications.md)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON summary as the last stdout line")
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="stream the runner's whole log (it is always in runs/<run-id>/run.log)",
    )
    p.set_defaults(handler=run_command)


def default_data() -> str:
    """The built-in synthetic dataset, written once under KFP_CT_HOME."""
    from kfp_ct import settings
    from kfp_ct.data.io import write_table
    from kfp_ct.data.synth import SynthSpec, make_dataset

    path = settings.home() / "data" / "default.csv"
    if not path.exists():
        write_table(make_dataset(SynthSpec(rows=DEFAULT_DATA_ROWS)), path)
    return str(path)


def run_command(args: argparse.Namespace) -> int:
    """Handle `kfp-ct run`."""
    from pathlib import Path

    from rich.console import Console

    from kfp_ct.cli.progress import StepDisplay
    from kfp_ct.errors import ParameterError, PipelineFailed
    from kfp_ct.localrun import prepare_environment, record_run, run_pipeline, summarize
    from kfp_ct.params import parse_params
    from kfp_ct.pipelines import parameter_types

    # Parsed before anything is written, by the same parser as `submit` and `schedule`.
    types = parameter_types(args.pipeline)
    params = parse_params(args.param, args.pipeline, types)
    if "rollout" in types:  # a bad rollout fails now, not after training
        from kfp_ct.deploy.base import RolloutPlan

        RolloutPlan.from_parameters(params, params.get("rollout_thresholds", "{}"))
    if args.schema:
        if "schema_uri" in params:
            raise ParameterError("give the schema once: --schema or --param schema_uri=..., not both")
        if not Path(args.schema).is_file() and "://" not in args.schema:
            raise ParameterError(f"--schema {args.schema}: no such file")
        params["schema_uri"] = str(Path(args.schema).resolve()) if "://" not in args.schema else args.schema
    if args.notify:
        if "notify_url" in params:
            raise ParameterError("give the webhook once: --notify or --param notify_url=..., not both")
        params["notify_url"] = args.notify
    prepare_environment()
    arguments = {
        "data_uri": args.data or default_data(),
        "label": args.label,
        "deploy_target": "local",
        **params,
    }
    if args.reference:
        if args.pipeline != "retraining":
            raise ParameterError("--reference applies to --pipeline retraining only")
        arguments["reference_uri"] = args.reference
    verbose = bool(getattr(args, "verbose", False))
    out = sys.stderr if args.json else sys.stdout
    console = Console(file=out, highlight=False, soft_wrap=False)
    print(f"kfp-ct: running '{args.pipeline}' locally on {arguments['data_uri']}", file=out, flush=True)
    display = StepDisplay(console, live=False if (verbose or args.json) else None)
    echo = sys.stderr if args.json else (sys.stdout if verbose else None)
    try:
        with display:
            run = run_pipeline(args.pipeline, arguments, echo=echo, listener=None if args.json else display)
    except PipelineFailed as exc:
        failed = getattr(exc, "run", None)
        if failed is not None:
            record_run(failed, args.pipeline, arguments, None, str(exc))
            console.print(f"  log     {failed.log_path}", soft_wrap=True)
            report = _report(failed.log_path.parent.name)
            if report:
                console.print(f"  report  {report}", soft_wrap=True)
        raise
    summary = summarize(args.pipeline, arguments, run.run_dir, run.seconds)
    run_id = run.log_path.parent.name
    record_run(run, args.pipeline, arguments, summary)
    report = _report(run_id)
    summary.extra.update({"log": str(run.log_path), "report": str(report) if report else None})
    if not args.json:
        display.skipped([s["name"] for s in _record_steps(run_id) if s["status"] == "skipped"])
    if args.json:
        print(json.dumps(summary.to_dict()))
    else:
        print(summary.render())
        if report:
            print(f"report     {report}")
        print(f"log        {run.log_path}")
    return 0


def _record_steps(run_id: str) -> list[dict]:
    from kfp_ct.localrun import RUN_RECORD, runs_dir

    return json.loads((runs_dir() / run_id / RUN_RECORD).read_text())["steps"]


def _report(run_id: str):
    """Write the run's report; None (with the cause logged) when it cannot be built."""
    from kfp_ct.localrun import write_report

    try:
        return write_report(run_id)
    except Exception as exc:  # a report is no reason to fail a run that succeeded
        log.warning("run report not written: %s: %s", type(exc).__name__, exc)
        return None
