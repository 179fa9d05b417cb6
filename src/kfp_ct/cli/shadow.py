"""`kfp-ct shadow report`: how a shadow version compares with the champion on live traffic."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `shadow` command group."""
    from kfp_ct.settings import DEFAULT_MODEL_NAME

    p = subparsers.add_parser("shadow", help="shadow rollouts: compare the shadow version with the champion")
    sub = p.add_subparsers(dest="shadow_command", metavar="SUBCOMMAND", required=True)
    r = sub.add_parser("report", help="agreement, labelled metric and latency of both versions")
    r.add_argument("--model", default=DEFAULT_MODEL_NAME, help="served model name (default: %(default)s)")
    r.add_argument("--json", action="store_true", help="print one JSON summary as the last stdout line")
    add_rule_options(r)
    r.set_defaults(handler=report_command)


def add_rule_options(p: argparse.ArgumentParser) -> None:
    """The shadow evidence rule's thresholds (defaults: `RolloutPlan`'s)."""
    from kfp_ct.deploy.base import RolloutPlan

    plan = RolloutPlan()
    p.add_argument("--min-requests", type=int, default=plan.min_shadow_requests,
                   help="requests both versions must have seen (default: %(default)s)")  # fmt: skip
    p.add_argument("--max-disagreement", type=float, default=plan.max_disagreement,
                   help="largest share of requests answered differently (default: %(default)s)")  # fmt: skip


def plan_of(args: argparse.Namespace):
    """The RolloutPlan the options describe."""
    from kfp_ct.deploy.base import RolloutPlan

    return RolloutPlan(
        strategy="shadow", min_shadow_requests=args.min_requests, max_disagreement=args.max_disagreement
    )


def render(verdict, champion: str, shadow: str) -> list[str]:
    """The report's lines for the terminal."""
    lines = [f"shadow v{shadow} beside champion v{champion}:"]
    agreed = verdict.agreement
    lines.append(
        f"  requests compared {verdict.extra.get('compared_requests', 0)}, agreement "
        + ("n/a" if agreed is None else f"{agreed:.2%}")
        + ("" if verdict.prediction_shift is None else f", prediction PSI {verdict.prediction_shift:.3f}")
    )
    for role, s in (("champion", verdict.champion), ("shadow", verdict.candidate)):
        metric = (
            "no labelled rows"
            if s.metric_value is None
            else f"{s.metric} {s.metric_value:.4g} on {s.labelled_rows} labelled rows"
        )
        lines.append(
            f"  {role} v{s.version}: {s.requests} requests, latency p50 {s.latency_p50_ms} ms "
            f"p99 {s.latency_p99_ms} ms, {metric}"
        )
    lines.append(
        f"  evidence rule: {'holds' if verdict.promote else 'not met'}: {'; '.join(verdict.reasons)}"
    )
    return lines


def report_command(args: argparse.Namespace) -> int:
    """Handle `kfp-ct shadow report`."""
    from kfp_ct.capture.config import capture_uri
    from kfp_ct.deploy.bake import shadow_report
    from kfp_ct.steps.deploy import shadow_state

    champion, shadow, since = shadow_state(args.model)
    verdict = shadow_report(capture_uri(), args.model, champion, shadow, plan_of(args), since)
    print("\n".join(render(verdict, champion, shadow)))
    if args.json:
        print(
            json.dumps(
                {"model": args.model, "since": since.isoformat() if since else None, **verdict.to_dict()}
            )
        )
    return 0
