"""`kfp-ct feedback`: record ground-truth labels for captured requests (keyed by request id)."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `feedback` command."""
    from kfp_ct.settings import DEFAULT_MODEL_NAME

    p = subparsers.add_parser("feedback", help="record labels for captured requests (by request id)")
    p.add_argument("--labels", required=True, help="CSV/Parquet file of request ids and their labels")
    p.add_argument("--id-column", default="request_id", help="request id column (default: %(default)s)")
    p.add_argument("--label-column", default="label", help="label column (default: %(default)s)")
    p.add_argument("--model", default=DEFAULT_MODEL_NAME, help="served model name (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print one JSON summary as the last stdout line")
    p.set_defaults(handler=feedback_command)


def feedback_command(args: argparse.Namespace) -> int:
    """Handle `kfp-ct feedback`."""
    from kfp_ct.capture.config import capture_uri
    from kfp_ct.capture.feedback import record_labels
    from kfp_ct.data.io import read_table

    labels = read_table(args.labels)
    result = record_labels(labels, capture_uri(), args.model, args.id_column, args.label_column, args.labels)
    print(result.render())
    if args.json:
        print(json.dumps(result.to_dict()))
    return 0
