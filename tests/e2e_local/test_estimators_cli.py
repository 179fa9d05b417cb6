"""`kfp-ct run --param estimator=xgboost|lightgbm` end to end: binary (default data), multiclass and
regression; promoted, served over V1 and V2, scored by MLflow pyfunc on the raw CSV. One run also
searches (n_trials=10), one trains on a long-tailed `merchant` column and a retraining run on a
stable window of it skips. Plus: the compiled GPU pipeline's train task gets device=auto, and
`make bench-gpu` says "no GPU visible" here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml

from kfp_ct.data.io import write_table
from kfp_ct.serving.client import infer_v1, infer_v2
from tests.unit.core.merchant import with_merchant

from .helpers import FAST, kfp_ct

MODEL = "kfp-ct-model"
ROOT = Path(__file__).resolve().parents[2]
SEARCH = {"n_trials": 10, "timeout_s": 300}  # room for a loaded 2-core machine
# name -> (estimator, dataset, extra --param values)
RUNS = {
    "xgboost-binary": ("xgboost", "default", []),
    "xgboost-multiclass-merchant": ("xgboost", "multiclass-merchant", []),
    "xgboost-regression": ("xgboost", "regression", []),
    "lightgbm-binary-search": ("lightgbm", "default", ["--param", f"search={json.dumps(SEARCH)}"]),
    "lightgbm-multiclass": ("lightgbm", "multiclass", []),
    "lightgbm-regression": ("lightgbm", "regression", []),
}


def _env(home: Path) -> dict[str, str]:
    from ..conftest import free_port

    return {"KFP_CT_HOME": str(home), "KFP_CT_PORT": str(free_port()), "MLFLOW_TRACKING_URI": ""}


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    d = tmp_path_factory.mktemp("est-data")
    out = {}
    for task in ("multiclass", "regression"):
        path = d / f"{task}.csv"
        made = kfp_ct("data", "synth", "--task", task, "--rows", "3000", "--seed", "5", "--out", str(path))
        assert made.code == 0, made.stderr
        out[task] = path
    from kfp_ct.data.synth import SynthSpec

    out["multiclass-merchant"] = write_table(
        with_merchant(SynthSpec(rows=4000, task="multiclass", seed=6)), d / "merchant.csv"
    )
    out["merchant-stable"] = write_table(
        with_merchant(SynthSpec(rows=2000, task="multiclass", seed=7)), d / "merchant-stable.csv"
    )
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory, datasets):
    """One fresh KFP_CT_HOME per run (each a first model), the servers stopped at the end."""
    out = {}
    envs = []
    try:
        for name, (estimator, dataset, extra) in RUNS.items():
            env = _env(tmp_path_factory.mktemp(name))
            envs.append(env)
            data = [] if dataset == "default" else ["--data", str(datasets[dataset])]
            result = kfp_ct(
                "run", *data, "--json", *FAST, "--param", f"estimator={estimator}", *extra, env=env
            )
            raw = datasets.get(dataset) or Path(env["KFP_CT_HOME"]) / "data" / "default.csv"
            out[name] = {"result": result, "env": env, "raw": raw, "estimator": estimator}
            if dataset == "multiclass-merchant":
                out["merchant-stable"] = kfp_ct(
                    "run", "--pipeline", "retraining", "--data", str(datasets["merchant-stable"]), "--json",
                    *FAST, "--param", f"estimator={estimator}", env=env,
                )  # fmt: skip
        yield out
    finally:
        for env in envs:
            kfp_ct("stop", env=env)


def _with_env(env: dict[str, str]):
    mp = pytest.MonkeyPatch()
    for key, value in env.items():
        mp.setenv(key, value)
    return mp


def _train_run(env: dict[str, str]):
    """The MLflow training run behind champion version 1."""
    from kfp_ct import settings

    mp = _with_env(env)
    try:
        client = mlflow.MlflowClient(tracking_uri=settings.tracking_uri())
        version = client.get_model_version(MODEL, "1")
        return client, client.get_run(version.run_id)
    finally:
        mp.undo()


@pytest.mark.slow
@pytest.mark.parametrize("name", list(RUNS))
def test_promoted_served_v1_v2_and_scored_by_pyfunc_on_the_raw_csv(runs, name):
    run = runs[name]
    result, env = run["result"], run["env"]
    assert result.code == 0, result.stderr[-3000:]
    s = result.summary
    assert s["decision"] == "first-model" and s["model_version"] == "1" and s["champion_version"] == "1"
    raw = pd.read_csv(run["raw"])
    rows = raw.drop(columns=["label"]).head(25)
    from kfp_ct import settings

    mp = _with_env(env)
    try:
        mlflow.set_tracking_uri(settings.tracking_uri())
        offline = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion").predict(rows)
    finally:
        mp.undo()
    v2 = infer_v2(s["endpoint"], MODEL, rows)
    v1 = infer_v1(s["endpoint"], MODEL, rows)
    assert v2.model_version == "1"
    if "regression" in name:
        assert np.allclose(v2.predictions, offline) and np.allclose(v1, offline)
        assert s["metrics"]["r2"] > 0.6
    else:
        assert list(v2.predictions) == list(offline) == list(v1)
        assert len(v2.probabilities[0]) == raw["label"].nunique()
        assert s["metrics"]["accuracy"] > (0.6 if "multiclass" in name else 0.75)  # 3 classes: chance 0.33
    if "multiclass" in name:
        assert set(offline) <= {"low", "medium", "high"}  # the labels as given, not XGBoost's 0..k-1
    _, train_run = _train_run(env)
    assert train_run.data.params["estimator"] == run["estimator"]


@pytest.mark.slow
def test_a_cpu_run_with_device_auto_logs_that_it_used_the_cpu(runs):
    run = runs["xgboost-binary"]
    assert "device: cpu (requested auto) for xgboost: no GPU visible" in run["result"].stderr
    _, train_run = _train_run(run["env"])
    params = train_run.data.params
    assert params["device"] == "cpu" and params["device_requested"] == "auto"
    assert params["device_reason"].startswith("no GPU visible")


@pytest.mark.slow
def test_search_logs_ten_child_runs_within_its_timeout_and_beats_the_default(runs):
    run = runs["lightgbm-binary-search"]
    client, train_run = _train_run(run["env"])
    m = train_run.data.metrics
    children = client.search_runs(
        [train_run.info.experiment_id], f"tags.mlflow.parentRunId = '{train_run.info.run_id}'"
    )
    assert len(children) == 10 and all(c.info.status == "FINISHED" for c in children)
    assert m["search_total_seconds"] < SEARCH["timeout_s"]
    assert m["search_best_val_roc_auc"] >= m["search_default_val_roc_auc"]
    print(
        f"\nsearch via kfp-ct run: val roc_auc best {m['search_best_val_roc_auc']:.4f} vs default "
        f"{m['search_default_val_roc_auc']:.4f}; {m['search_seconds']:.1f} s + refit "
        f"{m['search_total_seconds'] - m['search_seconds']:.1f} s; held-out (test) roc_auc of the "
        f"refit best: {run['result'].summary['metrics']['roc_auc']:.4f}"
    )


@pytest.mark.slow
def test_the_merchant_model_trains_serves_and_a_stable_window_does_not_drift(runs):
    stable = runs["merchant-stable"]
    assert stable.code == 0, stable.stderr[-3000:]
    drift = stable.summary["drift"]
    assert drift["decision"] == "skip" and "merchant" not in drift["drifted_features"], drift


def test_the_compiled_gpu_pipeline_trains_with_device_auto(tmp_path):
    result = kfp_ct("compile", "--profile", "gpu", "--out", str(tmp_path))
    assert result.code == 0, result.stderr
    for path in tmp_path.glob("*.yaml"):
        docs = list(yaml.safe_load_all(path.read_text()))
        spec = docs[0]
        assert spec["root"]["inputDefinitions"]["parameters"]["device"]["defaultValue"] == "auto"
        tasks = _tasks(spec["root"]["dag"]["tasks"], spec.get("components", {}))
        train = [t for t in tasks if t["componentRef"]["name"].endswith("train")]
        assert train, path
        for task in train:
            bound = task["inputs"]["parameters"]["device"]["componentInputParameter"]
            assert bound in ("device", "pipelinechannel--device")
        executors = docs[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
        assert any(e.get("nodeSelector") for e in executors.values())  # the profile's pool is there


def _tasks(tasks: dict, components: dict) -> list[dict]:
    """Every task, nested sub-DAGs (dsl.If) included."""
    out = []
    for task in tasks.values():
        out.append(task)
        dag = components.get(task["componentRef"]["name"], {}).get("dag")
        if dag:
            out += _tasks(dag["tasks"], components)
    return out


def test_bench_gpu_says_no_gpu_visible_and_exits_0():
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.gpu_train"], cwd=ROOT, capture_output=True, text=True, env=env,
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0 and "no GPU visible" in proc.stdout, proc.stderr[-2000:]


def test_bench_gpu_measures_and_writes_results_when_a_device_answers(monkeypatch, tmp_path):
    """The GPU path at a tiny size, with XGBoost's own CPU fallback standing in for the GPU."""
    import warnings

    from benchmarks import gpu_train
    from kfp_ct.core import device as device_mod
    from kfp_ct.core import train as train_mod

    monkeypatch.setattr(train_mod, "resolve_device", lambda e, r, g: device_mod.DeviceChoice(r, r, "test"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = gpu_train.measure(5000, seed=0, tolerance=0.005)
    assert r["agree"] and r["loads_without_gpu"] and r["ratio_train_model"] > 0
    gpu = {"gpu": "test", "machine": {"nproc": 2, "date": "today"}, "tolerance": 0.005, "sizes": [r]}
    (tmp_path / "results.json").write_text(
        json.dumps({"size": "tiny", "machine": _machine(), "total_s": 1.0})
    )
    gpu_train.write_results(gpu, tmp_path)
    assert "## 6. GPU training (XGBoost)" in (tmp_path / "RESULTS.md").read_text()
    assert json.loads((tmp_path / "gpu_results.json").read_text())["sizes"][0]["rows"] == 5000


def _machine():
    from benchmarks.common import machine

    return {**machine(), "loadavg_end": [0.0, 0.0, 0.0]}
