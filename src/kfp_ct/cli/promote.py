"""`kfp-ct promote --from-shadow`: promote the shadow version when its live evidence holds."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `promote` command."""
    from kfp_ct.cli.shadow import add_rule_options
    from kfp_ct.settings import DEFAULT_MODEL_NAME

    p = subparsers.add_parser("promote", help="promote the shadow version to champion (evidence rule)")
    p.add_argument("--from-shadow", action="store_true", required=True,
                   help="promote the version aliased 'shadow' (the only source supported)")  # fmt: skip
    p.add_argument("--model", default=DEFAULT_MODEL_NAME, help="served model name (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print one JSON summary as the last stdout line")
    add_rule_options(p)
    p.set_defaults(handler=promote_command)


def promote_command(args: argparse.Namespace) -> int:
    """Handle `kfp-ct promote --from-shadow`: exit 0 promoted, 1 refused (one line: why)."""
    from kfp_ct.capture.config import capture_uri
    from kfp_ct.cli.shadow import plan_of
    from kfp_ct.deploy.targets.local import LocalTarget
    from kfp_ct.errors import DeployError
    from kfp_ct.steps.deploy import promote_from_shadow

    promoted, verdict = promote_from_shadow(args.model, LocalTarget(), plan_of(args), capture_uri())
    shadow = verdict.candidate.version
    if promoted:
        print(
            f"{args.model}: v{shadow} promoted to champion and serving alone ({'; '.join(verdict.reasons)})"
        )
    if args.json:
        print(json.dumps({"model": args.model, "promoted": promoted, **verdict.to_dict()}))
    if not promoted:
        raise DeployError(f"{args.model}: v{shadow} not promoted: {'; '.join(verdict.reasons)}")
    return 0
