"""`python -m kfp_ct.serving --model_name NAME --model_dir DIR [--http_port 8080]`.

The entry point of local serving and of the project's ServingRuntime. Accepts every KServe
ModelServer flag (e.g. `--enable_grpc false`, `--workers 2`).
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> None:
    """Load the model and serve it until stopped."""
    from kserve import ModelServer, model_server

    from kfp_ct.serving.model import SklearnMlflowModel

    parser = argparse.ArgumentParser(prog="python -m kfp_ct.serving", parents=[model_server.parser])
    parser.add_argument("--model_dir", required=True, help="an MLflow model directory")
    args, _ = parser.parse_known_args(argv)
    model = SklearnMlflowModel(args.model_name, args.model_dir)
    model.load()
    ModelServer(
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        workers=args.workers,
        enable_grpc=args.enable_grpc,
        enable_latency_logging=args.enable_latency_logging,
    ).start([model])


if __name__ == "__main__":
    main(sys.argv[1:])
