"""The in-process floor: the six step functions of `continuous-training` called in one process.

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

    import pandas as pd

    from kfp_ct import lineage, settings
    from kfp_ct.core.compare import ComparePolicy
    from kfp_ct.deploy.targets.local import LocalTarget
    from kfp_ct.steps.compare import CompareOutput, compare_step
    from kfp_ct.steps.deploy import deploy_version, smoke_from_frame
    from kfp_ct.steps.evaluate import evaluate_step
    from kfp_ct.steps.register import register_step
    from kfp_ct.steps.train import train_step
    from kfp_ct.steps.validate import validate_step
    from kfp_ct.tracking.models import load_model

    lap("imports")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    name, run_id = settings.DEFAULT_MODEL_NAME, "floor-run"
    paths = {k: work / k for k in ("train", "test", "schema", "report", "model", "decision")}
    v = validate_step(
        args.data, "label", "auto", "", name, "{}", 0.2, 42,
        paths["train"], paths["test"], paths["schema"], paths["report"],
    )  # fmt: skip
    lap("validate")
    tags = {lineage.PIPELINE_RUN_ID: run_id, lineage.DATA_HASH: v.data_hash, lineage.DATA_URI: args.data}
    t = train_step(paths["train"], paths["schema"], "hist_gradient_boosting", "{}", 42, paths["model"], tags)
    lap("train")
    e = evaluate_step(paths["model"], paths["test"], paths["schema"], t.run_id)
    lap("evaluate")
    c = compare_step(paths["model"], paths["test"], paths["schema"], name, ComparePolicy())
    paths["decision"].write_text(c.to_json())
    lap("compare")
    r = register_step(name, t.model_uri, t.run_id, paths["decision"], json.dumps(e.metrics), tags)
    lap("register")
    offline = load_model(paths["model"])
    smoke = smoke_from_frame(offline, pd.read_parquet(paths["test"]), list(offline.feature_names_in_))
    target = LocalTarget() if args.deploy == "local" else None
    out = deploy_version(
        target, name, r.version, smoke, CompareOutput.read_champion(paths["decision"]), 300.0
    )
    lap("deploy")
    if target is not None:
        target.stop()
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
