"""XGBoost on the GPU vs the CPU: `python -m benchmarks.gpu_train` (`make bench-gpu`).

On a machine with a visible CUDA GPU it trains kfp-ct's XGBoost Pipeline at 1M and 10M rows (a
seeded synthetic dataset it makes itself) on the CPU and on the GPU, checks that both models agree
on held-out rows (ROC AUC and accuracy within `--tolerance`), checks that the GPU-trained model
loads and scores in a process that sees no GPU, and writes the CPU/GPU time ratios to
`benchmarks/gpu_results.json` and section 6 of `benchmarks/RESULTS.md`. Two times per size: the
whole `train_model` (preprocessing included, what a pipeline run pays) and the booster fit alone
on the preprocessed matrix. Where no GPU is visible it prints "no GPU visible" and exits 0.

Exit status: 0 when the models agree (or there is no GPU), 1 when they do not.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SIZES = (1_000_000, 10_000_000)
TOLERANCE = 0.005
HELD_OUT = 0.2


def gpu_name() -> str:
    """The GPU's name and memory from nvidia-smi, when it is on PATH."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return "unknown (no nvidia-smi)"
    out = subprocess.run(
        [smi, "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else "unknown"


def _held_out(model: Any, test: Any, features: list[str]) -> dict[str, float]:
    from kfp_ct.core import metrics

    scored = metrics.score(model, test[features], test["label"])
    return {m: metrics.compute(m, "binary", scored) for m in ("roc_auc", "accuracy")}


def _scores_without_gpu(model_dir: Path, rows: Any) -> list:
    """Predictions of a saved model in a fresh process that sees no GPU (CUDA_VISIBLE_DEVICES='')."""
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "rows.csv"
        rows.to_csv(csv, index=False)
        code = (
            "import json, pandas as pd, mlflow.pyfunc;"
            f"m = mlflow.pyfunc.load_model({str(model_dir)!r});"
            f"print(json.dumps(m.predict(pd.read_csv({str(csv)!r})).tolist()))"
        )
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
        )
    if out.returncode != 0:
        raise RuntimeError(f"loading the GPU-trained model without a GPU failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def warm_up() -> None:
    """Create the CUDA context once, so that the first timed GPU fit does not pay for it."""
    import numpy as np
    import xgboost

    x = np.random.default_rng(0).normal(size=(1000, 4))
    xgboost.XGBClassifier(n_estimators=2, device="cuda").fit(x, (x[:, 0] > 0).astype(int))


def measure(rows: int, seed: int, tolerance: float, device: str = "cuda") -> dict[str, Any]:
    """Train at `rows` on the CPU and on `device`; times, held-out metrics, agreement, CPU load check."""
    from sklearn.base import clone

    from kfp_ct.core.schema import infer_schema
    from kfp_ct.core.train import train_model
    from kfp_ct.data.synth import SynthSpec, make_dataset
    from kfp_ct.tracking import models

    total = int(rows / (1 - HELD_OUT))
    frame = make_dataset(SynthSpec(rows=total, seed=seed))
    train, test = frame.iloc[:rows], frame.iloc[rows:]
    schema = infer_schema(train.head(100_000), "label", "binary")
    out: dict[str, Any] = {"rows": rows, "held_out_rows": len(test)}
    fitted = {}
    for name in ("cpu", device):
        start = time.perf_counter()
        result = train_model(train, schema, "xgboost", {}, seed, device=name)
        out[f"{name}_train_model_s"] = time.perf_counter() - start
        out[f"{name}_device"] = result.device.device
        out[f"{name}_held_out"] = _held_out(result.model, test, result.features)
        fitted[name] = result
    matrix = fitted["cpu"].model[:-1].transform(train[fitted["cpu"].features])
    for name in ("cpu", device):
        booster = clone(fitted[name].model[-1]).set_params(device=name)
        start = time.perf_counter()
        booster.fit(matrix, train["label"])
        out[f"{name}_booster_fit_s"] = time.perf_counter() - start
    out["ratio_train_model"] = out["cpu_train_model_s"] / out[f"{device}_train_model_s"]
    out["ratio_booster_fit"] = out["cpu_booster_fit_s"] / out[f"{device}_booster_fit_s"]
    gaps = {m: abs(out["cpu_held_out"][m] - out[f"{device}_held_out"][m]) for m in ("roc_auc", "accuracy")}
    out["metric_gaps"] = gaps
    out["agree"] = all(g <= tolerance for g in gaps.values())
    gpu_model = fitted[device]
    sample = test[gpu_model.features].head(200)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = models.save_model(
            gpu_model.model, Path(tmp) / "m", sample, gpu_model.model.predict(sample)
        )
        served = _scores_without_gpu(model_dir, sample)
    out["loads_without_gpu"] = served == gpu_model.model.predict(sample).tolist()
    return out


def render_section(gpu: dict[str, Any]) -> list[str]:
    """Markdown lines of RESULTS.md section 6 (also used by `benchmarks.report`)."""
    out = [
        "## 6. GPU training (XGBoost)",
        "",
        f"`python -m benchmarks.gpu_train` (`make bench-gpu`) on {gpu['gpu']}, {gpu['machine']['nproc']} "
        f"cores, {gpu['machine']['date']}. kfp-ct's XGBoost Pipeline on the default synthetic data, "
        "`device=cpu` vs `device=cuda`; `train_model` = the whole fit with preprocessing, booster = "
        "the XGBoost fit alone on the preprocessed matrix. Held-out rows: 20% more, same seed. "
        f"Agreement tolerance on ROC AUC and accuracy: {gpu['tolerance']}.",
        "",
        "| rows | CPU train_model s | GPU train_model s | ratio | CPU booster s | GPU booster s | ratio "
        "| AUC CPU / GPU | agree | GPU model scores without a GPU |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in gpu["sizes"]:
        out.append(
            f"| {r['rows']:,} | {r['cpu_train_model_s']:.1f} | {r['cuda_train_model_s']:.1f} | "
            f"{r['ratio_train_model']:.1f}x | {r['cpu_booster_fit_s']:.1f} | {r['cuda_booster_fit_s']:.1f} | "
            f"{r['ratio_booster_fit']:.1f}x | {r['cpu_held_out']['roc_auc']:.4f} / "
            f"{r['cuda_held_out']['roc_auc']:.4f} | {'yes' if r['agree'] else 'NO'} | "
            f"{'yes' if r['loads_without_gpu'] else 'NO'} |"
        )
    return [*out, ""]


def write_results(gpu: dict[str, Any], out_dir: Path) -> None:
    """gpu_results.json, and RESULTS.md re-rendered with section 6 (when results.json exists)."""
    from benchmarks.report import render

    (out_dir / "gpu_results.json").write_text(json.dumps(gpu, indent=2) + "\n")
    results_path = out_dir / "results.json"
    if results_path.is_file():
        results = json.loads(results_path.read_text())
        results["gpu"] = gpu
        (out_dir / "RESULTS.md").write_text(render(results))


def main(argv: list[str] | None = None) -> int:
    """Compare CPU and GPU training when a GPU is visible; say so and exit 0 when none is."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_train")
    parser.add_argument("--rows", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--tolerance", type=float, default=TOLERANCE)
    parser.add_argument("--out", type=Path, default=HERE, help="folder of gpu_results.json and RESULTS.md")
    args = parser.parse_args(argv)
    from benchmarks.common import machine
    from kfp_ct.core.device import resolve_device

    choice = resolve_device("xgboost", "auto", True)
    if choice.device != "cuda":
        why = choice.reason.removeprefix("no GPU visible: ")
        print(f"no GPU visible ({why}); nothing to compare, exiting 0")
        return 0
    print(f"GPU: {gpu_name()} ({choice.reason})", flush=True)
    warm_up()
    gpu: dict[str, Any] = {"gpu": gpu_name(), "machine": machine(), "tolerance": args.tolerance, "sizes": []}
    for rows in args.rows:
        print(f"training XGBoost on {rows:,} rows, CPU then GPU ...", flush=True)
        r = measure(rows, args.seed, args.tolerance)
        gpu["sizes"].append(r)
        print(
            f"  CPU {r['cpu_train_model_s']:.1f} s, GPU {r['cuda_train_model_s']:.1f} s "
            f"({r['ratio_train_model']:.1f}x; booster alone {r['ratio_booster_fit']:.1f}x); "
            f"held-out AUC {r['cpu_held_out']['roc_auc']:.4f} vs {r['cuda_held_out']['roc_auc']:.4f} "
            f"({'agree' if r['agree'] else 'DISAGREE'}); scores without a GPU: {r['loads_without_gpu']}",
            flush=True,
        )
    args.out.mkdir(parents=True, exist_ok=True)
    write_results(gpu, args.out)
    print(f"wrote {args.out / 'gpu_results.json'}")
    return 0 if all(r["agree"] and r["loads_without_gpu"] for r in gpu["sizes"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
