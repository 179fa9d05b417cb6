"""`python -m kfp_ct.serving` (the entry point of local serving and of the ServingRuntime).

Two modes:

- `--model_repository DIR`: a long-lived server over deployment specs (`kfp_ct.serving.spec`):
  deploy target `local` adds versions and moves routes in it with no restart.
- `--model_name NAME --model_dir DIR [--model_version V]`: one model version, as the cluster
  ServingRuntime runs it (the version defaults to the registry's `registered_model_meta`).

Accepts every KServe ModelServer flag (`--http_port`, `--grpc_port`, `--enable_grpc`,
`--workers 2`, ...), plus `--access_log`, `--capture_uri` and `--capture_sample_rate`
(`kfp_ct.capture.config`). Per-request latency logging and the access log are off
unless asked for. The server is built in `main`, called only when this module runs as the
program: with `--workers N` each worker process re-imports it and must not start another server.
"""

from __future__ import annotations

import argparse
import os
import sys

from kfp_ct import settings


def build_parser() -> argparse.ArgumentParser:
    """KServe's ModelServer flags plus the project's."""
    from kserve import model_server
    from kserve.utils.utils import strtobool

    parser = argparse.ArgumentParser(prog="python -m kfp_ct.serving", parents=[model_server.parser])
    parser.add_argument("--model_repository", help="a directory of deployment specs (hot-swapped serving)")
    parser.add_argument("--model_dir", help="an MLflow model directory (one version)")
    parser.add_argument(
        "--model_version",
        default=os.environ.get(settings.MODEL_VERSION_ENV) or None,
        help=f"the version --model_dir holds (default: ${settings.MODEL_VERSION_ENV}, else the registry's)",
    )
    parser.add_argument("--access_log", type=strtobool, default=False, help="log one line per request")
    parser.add_argument("--capture_uri", help="where to capture traffic (default: $KFP_CT_CAPTURE_URI)")
    parser.add_argument(
        "--capture_sample_rate", type=float, help="share of requests captured (0 turns it off)"
    )
    parser.set_defaults(enable_latency_logging=False)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Load the models and serve them until stopped."""
    from kfp_ct.capture.config import RATE_ENV, URI_ENV
    from kfp_ct.serving.repository import DeploymentRepository
    from kfp_ct.serving.server import ProjectModelServer, configure_logging

    parser = build_parser()
    args, _ = parser.parse_known_args(argv)
    if bool(args.model_repository) == bool(args.model_dir):
        parser.error("give either --model_repository or --model_dir (with --model_name)")
    if args.capture_sample_rate is not None and not 0.0 <= args.capture_sample_rate <= 1.0:
        parser.error("--capture_sample_rate must be between 0 and 1")
    for env, value in ((URI_ENV, args.capture_uri), (RATE_ENV, args.capture_sample_rate)):
        if value is not None:  # through the environment, so that worker processes see it too
            os.environ[env] = str(value)
    repository = DeploymentRepository(args.model_repository)  # None: one model, added below
    server = ProjectModelServer(  # configures KServe's logging, which the project's loggers share
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        workers=args.workers,
        enable_grpc=args.enable_grpc,
        enable_latency_logging=args.enable_latency_logging,
        registered_models=repository,
        access_log=bool(args.access_log),
    )
    configure_logging()
    if args.model_repository:
        repository.load_models()
    else:
        repository.add_single(args.model_name, args.model_dir, args.model_version)
    server.start([])


if __name__ == "__main__":
    main(sys.argv[1:])
