"""`kfp-ct monitor`: monitor captured traffic; on `retrain`, run the retraining pipeline on it.

The decision comes from `kfp_ct.steps.monitor`; its files go to
`$KFP_CT_HOME/monitoring/<UTC time>/`. On `retrain` (unless `--no-retrain`) the labelled window is
copied into the capture store (`<capture_uri>/<model>/windows/`) and the `retraining` pipeline
runs on it locally through kfp.local (`kfp_ct.localrun`), as `kfp-ct run --pipeline retraining`
would; its summary is the `retraining` field of the `--json` line. With `--remote` the
retraining is submitted to the KFP cluster at `--host` instead (`kfp_ct.remote.submit`; the
capture store must then be `s3://`).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `monitor` command."""
    from kfp_ct.cli.remote import _connection_args
    from kfp_ct.settings import DEFAULT_MODEL_NAME

    p = subparsers.add_parser("monitor", help="monitor captured traffic; retrain when it warrants")
    p.add_argument("--model", default=DEFAULT_MODEL_NAME, help="served model name (default: %(default)s)")
    p.add_argument("--since", default="", help="ISO 8601 start (default: the last monitoring run's end)")
    p.add_argument(
        "--label", default="label", help="label column of the training data (default: %(default)s)"
    )
    p.add_argument("--min-labels", type=int, default=200, help="labelled rows needed to check performance")
    p.add_argument("--cooldown-hours", type=float, default=0.0, help="no retrain within this many hours")
    p.add_argument("--training-policy", default="new", choices=("new", "all", "sliding"),
                   help="training set of a retraining (default: new, the captured window)")  # fmt: skip
    p.add_argument("--no-retrain", action="store_true", help="decide only; never start a retraining")
    p.add_argument("--settle-seconds", type=float, default=10.0,
                   help="leave the newest seconds (still being written) to the next run")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print one JSON summary as the last stdout line")
    p.add_argument("--remote", action="store_true",
                   help="submit the retraining to the KFP cluster at --host (not run here)")  # fmt: skip
    _connection_args(p)
    p.set_defaults(handler=monitor_command)


def monitor_command(args: argparse.Namespace) -> int:
    """Handle `kfp-ct monitor`."""
    from datetime import UTC, datetime

    from kfp_ct import settings
    from kfp_ct.errors import ParameterError
    from kfp_ct.steps.monitor import MonitorParams, MonitorPaths, parse_since, run

    if args.since:
        parse_since(args.since)  # a bad value fails before anything is read or written
    if args.min_labels < 1:
        raise ParameterError(f"--min-labels {args.min_labels} must be at least 1")
    if args.settle_seconds < 0:
        raise ParameterError(f"--settle-seconds {args.settle_seconds} must not be negative")
    if args.remote:
        from kfp_ct.capture.config import capture_uri
        from kfp_ct.cli.remote import _options

        _options(args)  # no host: fail before anything is read
        if "://" not in capture_uri():
            raise ParameterError(
                f"--remote: the capture store {capture_uri()} is local, so the cluster cannot read its "
                "window; set KFP_CT_CAPTURE_URI to an s3:// URI"
            )
    out_dir = settings.home() / "monitoring" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    out_dir.mkdir(parents=True, exist_ok=True)
    params = MonitorParams(
        model_name=args.model, since=args.since, label=args.label, min_labels=args.min_labels,
        cooldown_hours=args.cooldown_hours, settle_s=args.settle_seconds,
    )  # fmt: skip
    paths = MonitorPaths(
        window=out_dir / "window.parquet", report=out_dir / "report.md", drift_report=out_dir / "drift.html"
    )
    out = run(params, paths)
    summary: dict[str, Any] = out.to_dict()
    if out.decision == "retrain" and not args.no_retrain:
        summary["retraining"] = retrain(args, out, paths)
    _print(summary, args.json)
    return 0


def retrain(args: argparse.Namespace, out: Any, paths: Any) -> dict[str, Any]:
    """Run the retraining pipeline locally on the labelled window; its `kfp-ct run --json` summary."""
    import pandas as pd

    from kfp_ct.capture import store
    from kfp_ct.capture.config import capture_uri
    from kfp_ct.localrun import prepare_environment, record_run, run_pipeline, summarize

    window = pd.read_parquet(paths.window)
    name = out.window["until"].replace(":", "").replace("+", "_")
    window_uri = store.write_window(capture_uri(), args.model, window, name)
    arguments = {
        "data_uri": window_uri,
        "label": args.label,
        "model_name": args.model,
        "deploy_target": "local",
        "training_policy": args.training_policy,
        "cooldown_hours": args.cooldown_hours,
    }
    if args.remote:  # the cluster's retraining pipeline, through the existing submit code
        from kfp_ct.cli.remote import _options
        from kfp_ct.remote import submit

        echo = sys.stderr if args.json else sys.stdout
        _, run = submit(_options(args), "retraining", {**arguments, "deploy_target": "kserve"},
                        echo=lambda line: print(line, file=echo, flush=True))  # fmt: skip
        return {"pipeline": "retraining", "remote": True, **run.to_dict()}
    prepare_environment()
    print(f"kfp-ct: retraining '{args.model}' on {len(window)} captured labelled rows ({window_uri})",
          file=sys.stderr if args.json else sys.stdout, flush=True)  # fmt: skip
    run = run_pipeline("retraining", arguments, echo=sys.stderr if args.json else None)
    result = summarize("retraining", arguments, run.run_dir, run.seconds)
    record_run(run, "retraining", arguments, result)
    return result.to_dict()


def _print(summary: dict[str, Any], as_json: bool) -> None:
    if summary["rows"] == 0:
        print(summary["reasons"][0])
    else:
        drift, perf = summary["drift"], summary["performance"]
        print(f"decision   {summary['decision']}")
        print(f"window     {summary['window']['since']} .. {summary['window']['until']}")
        print(f"rows       {summary['rows']} ({summary['labelled_rows']} labelled)")
        print(f"drift      share {drift['share']}, drifted: {', '.join(drift['drifted_features']) or 'none'}")
        if perf.get("metric"):
            print(f"perf       {perf['metric']}: champion {perf['champion']}, live {perf['live']}")
        for reason in summary["reasons"]:
            print(f"  - {reason}")
        if "retraining" in summary:
            r = summary["retraining"]
            print(f"retrained  run {r.get('run_id')}: {r.get('decision')}, version {r.get('model_version')}")
    if as_json:
        print(json.dumps(summary, default=str))
