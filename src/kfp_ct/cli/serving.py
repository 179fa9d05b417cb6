"""`kfp-ct serve`, `kfp-ct stop`, `kfp-ct status`: the local model server and registry state."""

from __future__ import annotations

import argparse
import json

from kfp_ct.settings import DEFAULT_MODEL_NAME


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `serve`, `stop` and `status`."""
    p = subparsers.add_parser("serve", help="serve the current champion on localhost")
    p.add_argument("--model-name", default=DEFAULT_MODEL_NAME)
    p.add_argument("--detach", action="store_true", help="run in the background and return")
    p.add_argument("--timeout", type=float, default=120.0, help="readiness timeout in seconds")
    p.set_defaults(handler=serve_command)
    p = subparsers.add_parser("stop", help="stop the local model server")
    p.set_defaults(handler=stop_command)
    p = subparsers.add_parser("status", help="champion, challenger, endpoint and recent runs")
    p.add_argument("--model-name", default=DEFAULT_MODEL_NAME)
    p.add_argument("--json", action="store_true")
    p.add_argument("--card", action="store_true", help="print the champion's model card (JSON with --json)")
    p.set_defaults(handler=status_command)


def serve_command(args: argparse.Namespace) -> int:
    """Handle `kfp-ct serve`."""
    import time

    from kfp_ct import lineage, settings
    from kfp_ct.deploy.base import DeployRequest
    from kfp_ct.deploy.targets.local import LocalTarget, read_state
    from kfp_ct.errors import KfpCtError
    from kfp_ct.steps.deploy import verify_artifact
    from kfp_ct.tracking import registry

    champion = registry.by_alias(args.model_name, lineage.CHAMPION)
    if champion is None:
        raise KfpCtError(f"model '{args.model_name}' has no champion yet; run `kfp-ct run` first")
    state = read_state()  # a dead server is started again, then made to serve the champion
    if not (state and state.serving_version(args.model_name) == champion.version):
        model_dir = registry.download(champion.name, champion.version, settings.server_dir() / "models")
        verify_artifact(champion, model_dir)
        uri = f"models:/{args.model_name}/{champion.version}"
        request = DeployRequest(args.model_name, champion.version, uri, model_dir, None, args.timeout)
        LocalTarget().deploy(request)
        state = read_state()
    version = state.serving_version(args.model_name)
    print(f"serving {args.model_name} v{version} at {state.endpoint} (gRPC {state.grpc_endpoint})")
    if args.detach:
        return 0
    print("press Ctrl+C to stop")
    try:
        while read_state() is not None:
            time.sleep(1.0)
    except KeyboardInterrupt:
        LocalTarget().stop()
        print("stopped")
    return 0


def stop_command(args: argparse.Namespace) -> int:
    """Handle `kfp-ct stop`."""
    from kfp_ct.deploy.targets.local import LocalTarget

    state = LocalTarget().stop()
    print(f"stopped the local model server (pid {state.pid})" if state else "no local server running")
    return 0


def status_command(args: argparse.Namespace) -> int:
    """Handle `kfp-ct status`."""
    from kfp_ct import lineage
    from kfp_ct.deploy.targets.local import read_state
    from kfp_ct.tracking import registry, runs

    if args.card:
        return print_card(args.model_name, args.json)
    aliases = registry.aliases(args.model_name)
    state = read_state()
    recent = [
        {
            "pipeline_run_id": r.data.tags.get(lineage.PIPELINE_RUN_ID, ""),
            "mlflow_run_id": r.info.run_id,
            "status": r.info.status,
            "metrics": {k: round(v, 4) for k, v in r.data.metrics.items() if k.startswith("test_")},
        }
        for r in runs.recent_runs(5)
    ]
    info = {
        "model_name": args.model_name,
        "champion": aliases.get(lineage.CHAMPION),
        "challenger": aliases.get(lineage.CHALLENGER),
        "previous_champion": aliases.get(lineage.PREVIOUS_CHAMPION),
        "endpoint": state.endpoint if state else None,
        "grpc_endpoint": state.grpc_endpoint if state else None,
        "serving_version": state.serving_version(args.model_name) if state else None,
        "recent_runs": recent,
    }
    if args.json:
        print(json.dumps(info))
        return 0
    for key in (
        "model_name",
        "champion",
        "challenger",
        "previous_champion",
        "endpoint",
        "grpc_endpoint",
        "serving_version",
    ):
        print(f"{key:18} {info[key] if info[key] is not None else '-'}")
    for run in recent:
        print(f"run {run['pipeline_run_id'] or '-':50} {run['status']:9} {run['metrics']}")
    return 0


def print_card(model_name: str, as_json: bool) -> int:
    """Print the champion's model card (Markdown, or its JSON twin)."""
    import os
    import tempfile
    from pathlib import Path

    from kfp_ct import lineage
    from kfp_ct.errors import KfpCtError
    from kfp_ct.tracking import models, registry

    champion = registry.by_alias(model_name, lineage.CHAMPION)
    if champion is None:
        raise KfpCtError(f"model '{model_name}' has no champion yet; run `kfp-ct run` first")
    uri = champion.tags.get(lineage.MODEL_CARD)
    if not uri:
        raise KfpCtError(f"{model_name} v{champion.version} has no model card (registered before cards)")
    if as_json:
        uri = uri.removesuffix(".md") + ".json"
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    with tempfile.TemporaryDirectory() as tmp:
        print(models.download_artifact(uri, Path(tmp)).read_text().rstrip())
    if not as_json:
        print(f"\n(card of {model_name} v{champion.version}: {uri})")
    return 0
