"""The in-process floor: the six steps of `continuous-training`, each step's `run` in one process.

Run as `python -m benchmarks.pipeline_floor --data CSV` with `KFP_CT_HOME` and `KFP_CT_PORT` set;
does exactly the work of a first `kfp-ct run` (first model, local deploy) and prints one JSON
line with per-step seconds. The server it starts is stopped before it exits.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

STARTED = time.perf_counter()


def main() -> None:
    """Run validate -> train -> evaluate -> compare -> register -> deploy and time each."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--work", required=True, help="folder for step outputs")
    parser.add_argument("--deploy", choices=("local", "none"), default="local")
    args = parser.parse_args()
    steps: dict[str, float] = {}
    mark = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        steps[name] = now - mark
        mark = now

    from kfp_ct import settings
    from kfp_ct.deploy.targets.local import LocalTarget
    from kfp_ct.steps import compare, deploy, evaluate, register, train, validate

    lap("imports")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    name, run_id = settings.DEFAULT_MODEL_NAME, "floor-run"
    paths = {k: work / k for k in ("train", "test", "schema", "report", "model", "decision", "compare")}
    v = validate.run(
        validate.ValidateParams(data_uri=args.data, model_name=name),
        validate.ValidatePaths(
            train_set=paths["train"], test_set=paths["test"], schema=paths["schema"], report=paths["report"]
        ),
    )
    lap("validate")
    lineage = {"pipeline_run_id": run_id, "data_hash": v.data_hash, "data_uri": args.data}
    t = train.run(
        train.TrainParams(estimator="hist_gradient_boosting", seed=42, **lineage),
        train.TrainPaths(train_set=paths["train"], schema=paths["schema"], model=paths["model"]),
    )
    lap("train")
    e = evaluate.run(
        evaluate.EvaluateParams(run_id=t.run_id),
        evaluate.EvaluatePaths(
            model=paths["model"],
            test_set=paths["test"],
            schema=paths["schema"],
            report=work / "evaluation.md",
        ),
    )
    lap("evaluate")
    c = compare.run(
        compare.CompareParams(model_name=name),
        compare.ComparePaths(
            model=paths["model"],
            test_set=paths["test"],
            schema=paths["schema"],
            decision_record=paths["decision"],
            report=paths["compare"],
        ),
    )
    lap("compare")
    r = register.run(
        register.RegisterParams(
            model_name=name, model_uri=t.model_uri, run_id=t.run_id, metrics=e.metrics, **lineage
        ),
        register.RegisterPaths(decision_record=paths["decision"]),
    )
    lap("register")
    out = deploy.run(
        deploy.DeployParams(
            model_name=name, model_version=r.model_version, target=args.deploy, readiness_timeout_s=300.0
        ),
        deploy.DeployPaths(model=paths["model"], test_set=paths["test"], decision_record=paths["decision"]),
    )
    lap("deploy")
    if args.deploy == "local":
        LocalTarget().stop()
    lap("stop_server")  # not part of the run: `kfp-ct run` leaves its server up
    total = sum(v for k, v in steps.items() if k != "stop_server")
    print(
        json.dumps(
            {
                "steps_s": steps,
                "in_process_s": total,
                "since_interpreter_start_s": time.perf_counter() - STARTED,
                "decision": c.decision.decision,
                "endpoint": out.endpoint,
                "roc_auc": e.metrics.get("roc_auc"),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
