"""`kfp-ct compile`: write every pipeline's KFP IR YAML."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `compile` command."""
    p = subparsers.add_parser("compile", help="compile pipelines to YAML for the Kubeflow UI")
    p.add_argument("--out", default="build/pipelines", help="output directory (default: %(default)s)")
    p.add_argument("--pipeline", action="append", help="only this pipeline (repeatable)")
    p.add_argument("--profile", help="hardware profile for training: cpu, gpu or a YAML file")
    p.set_defaults(handler=compile_command)


def compile_command(args: argparse.Namespace) -> int:
    """Handle `kfp-ct compile`."""
    from kfp_ct.pipelines import compile_pipeline, names

    suffix = f"-{Path(args.profile).stem}" if args.profile else ""
    for name in args.pipeline or names():
        path = compile_pipeline(name, Path(args.out) / f"{name}{suffix}.yaml", profile=args.profile)
        print(f"compiled {name} -> {path}")
    return 0
