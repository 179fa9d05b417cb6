"""`kfp-ct data synth`: the built-in seeded synthetic dataset, with drift knobs."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `data` command group."""
    data = subparsers.add_parser("data", help="datasets")
    sub = data.add_subparsers(dest="data_command", metavar="COMMAND", required=True)
    p = sub.add_parser("synth", help="write the seeded synthetic dataset")
    p.add_argument("--rows", type=int, default=5000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--task", default="binary", choices=["binary", "multiclass", "regression"])
    p.add_argument("--drift", type=float, default=0.0, help="feature shift intensity, 0 = none (0..5)")
    p.add_argument("--new-categories", action="store_true", help="add category values unseen at drift 0")
    p.add_argument("--label-shift", type=float, default=0.0, help="move the class balance / target mean")
    p.add_argument(
        "--concept-drift", type=float, default=0.0, help="change how the label depends on features"
    )
    p.add_argument("--label", default="label", help="name of the label column")
    p.add_argument("--out", required=True, help="output .csv or .parquet")
    p.set_defaults(handler=synth_command)


def synth_command(args: argparse.Namespace) -> int:
    """Handle `kfp-ct data synth`."""
    from kfp_ct.data.io import write_table
    from kfp_ct.data.synth import SynthSpec, make_dataset

    spec = SynthSpec(
        rows=args.rows, seed=args.seed, task=args.task, drift=args.drift,
        new_categories=args.new_categories, label_shift=args.label_shift,
        concept_drift=args.concept_drift, label=args.label,
    )  # fmt: skip
    path = write_table(make_dataset(spec), args.out)
    print(f"wrote {spec.rows} rows to {path}")
    return 0
