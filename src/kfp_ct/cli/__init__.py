"""The `kfp-ct` command line.

Each subcommand group lives in its own module under `kfp_ct.cli` with a `register(subparsers)`
function; `COMMAND_MODULES` lists them. Heavy imports happen inside handlers, never at import.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from kfp_ct import __version__
from kfp_ct.errors import KfpCtError

COMMAND_MODULES = (
    "run", "report", "ui", "data", "compile", "serving", "render", "remote", "feedback", "monitor",
    "shadow", "promote",
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="kfp-ct",
        description="Continuous training for Kubeflow: validate, train, evaluate, compare, "
        "register in MLflow and deploy to KServe, locally or on a cluster.",
    )
    parser.add_argument("--version", action="version", version=f"kfp-ct {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"kfp_ct.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.handler(args) or 0)
    except KfpCtError as exc:
        print(f"kfp-ct: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("kfp-ct: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
