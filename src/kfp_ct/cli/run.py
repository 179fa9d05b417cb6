"""`kfp-ct run`: run a pipeline locally with kfp.local, MLflow on sqlite and a local KServe server."""

from __future__ import annotations

import argparse
import json
import sys

DEFAULT_DATA_ROWS = 5000


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `run` command."""
    p = subparsers.add_parser("run", help="run a pipeline on this machine (no cluster, no Docker)")
    p.add_argument("--pipeline", default="continuous-training", help="pipeline name (default: %(default)s)")
    p.add_argument("--data", help="CSV/Parquet path or URI (default: built-in synthetic data)")
    p.add_argument("--label", default="label", help="target column (default: %(default)s)")
    p.add_argument("--reference", help="reference data for drift checks (retraining)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="pipeline parameter")
    p.add_argument("--json", action="store_true", help="print one JSON summary as the last stdout line")
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
    from kfp_ct.errors import ParameterError
    from kfp_ct.localrun import prepare_environment, run_pipeline, summarize
    from kfp_ct.params import parse_params

    prepare_environment()
    arguments = {
        "data_uri": args.data or default_data(),
        "label": args.label,
        "deploy_target": "local",
        **parse_params(args.param, args.pipeline),
    }
    if args.reference:
        if args.pipeline != "retraining":
            raise ParameterError("--reference applies to --pipeline retraining only")
        arguments["reference_uri"] = args.reference
    echo = sys.stderr if args.json else sys.stdout
    print(
        f"kfp-ct: running '{args.pipeline}' locally on {arguments['data_uri']}",
        file=echo,
        flush=True,
    )
    run_dir, seconds = run_pipeline(args.pipeline, arguments, echo=echo)
    summary = summarize(args.pipeline, arguments, run_dir, seconds)
    if args.json:
        print(json.dumps(summary.to_dict()))
    else:
        print(summary.render())
    return 0
