"""`kfp-ct report [RUN_ID] [--open]`: (re)build a local run's HTML report and print its path."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `report` command."""
    p = subparsers.add_parser("report", help="write a local run's HTML report (default: the newest run)")
    p.add_argument("run_id", nargs="?", help="run id as `kfp-ct run` printed it (default: the newest)")
    p.add_argument("--open", action="store_true", help="open the report in a web browser")
    p.set_defaults(handler=report_command)


def report_command(args: argparse.Namespace) -> int:
    """Handle `kfp-ct report`."""
    from kfp_ct.localrun import write_report

    path = write_report(args.run_id)
    print(path)
    if args.open:
        import webbrowser

        if not webbrowser.open(path.as_uri()):
            print(f"no web browser found; open {path.as_uri()}")
    return 0
