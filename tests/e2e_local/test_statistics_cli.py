"""Sound statistics through the real `kfp-ct run --pipeline retraining` CLI (issue #16).

A multiclass window holding a class the champion never saw ends with a decision and reasons (the
gate scores the champion's misses instead of crashing), and a long-tailed categorical column drawn
from one distribution on both sides does not trigger retraining.
"""

import json
import math

import numpy as np
import pytest

from kfp_ct.data.io import write_table
from kfp_ct.data.synth import SynthSpec, make_dataset

from .helpers import FAST, kfp_ct

pytestmark = pytest.mark.slow
NO_DEPLOY = ["--param", "deploy_target=none"]


def merchants(n: int, seed: int) -> np.ndarray:
    """A long-tailed column: Zipf 1.1 over 20,000 merchant ids."""
    weights = 1.0 / np.arange(1, 20_001) ** 1.1
    ids = np.random.default_rng(seed).choice(20_000, n, p=weights / weights.sum())
    return np.array([f"merchant-{i:05d}" for i in ids])


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    from ..conftest import free_port

    mp = pytest.MonkeyPatch()
    path = tmp_path_factory.mktemp("stats-home")
    mp.setenv("KFP_CT_HOME", str(path))
    mp.setenv("KFP_CT_PORT", str(free_port()))
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    yield path
    mp.undo()


def run(*args: str):
    result = kfp_ct("run", *args, "--json", *NO_DEPLOY, *FAST)
    assert result.code == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return result.summary


def decision_record(home, run_id: str) -> dict:
    (path,) = [p for p in home.rglob("decision_record") if run_id in str(p)]
    return json.loads(path.read_text())


def test_a_class_the_champion_never_saw_ends_in_a_decision(home, tmp_path):
    model = ["--param", "model_name=stats-multiclass"]
    base = write_table(make_dataset(SynthSpec(rows=3000, seed=51, task="multiclass")), tmp_path / "base.csv")
    first = run("--data", str(base), *model)
    assert first["decision"] == "first-model"
    window = make_dataset(SynthSpec(rows=2000, seed=52, task="multiclass"))
    window.loc[window["support_calls"] >= 2, "label"] = "churned"  # a fourth class, new to the champion
    assert (window["label"] == "churned").mean() > 0.2
    path = write_table(window, tmp_path / "window.csv")
    summary = run("--pipeline", "retraining", "--data", str(path), *model)
    assert summary["drift"]["decision"] == "retrain"
    assert summary["decision"] in ("promote", "reject")
    record = decision_record(home, summary["run_id"])
    assert record["decision"] == summary["decision"] and record["reasons"]
    assert record["champion_version"] == "1"
    assert all(math.isfinite(v) for v in record["champion"].values()), record["champion"]
    assert record["champion"]["accuracy"] < record["challenger"]["accuracy"]  # the misses count


def test_a_long_tailed_column_alike_on_both_sides_does_not_retrain(home, tmp_path):
    model = ["--param", "model_name=stats-zipf"]
    base = make_dataset(SynthSpec(rows=3000, seed=61)).assign(merchant=merchants(3000, 61))
    first = run("--data", str(write_table(base, tmp_path / "base.csv")), *model)
    assert first["decision"] == "first-model"
    window = make_dataset(SynthSpec(rows=2000, seed=62)).assign(merchant=merchants(2000, 62))
    assert len(set(window["merchant"]) - set(base["merchant"])) > 200  # many values unseen, by chance
    summary = run("--pipeline", "retraining", "--data", str(write_table(window, tmp_path / "w.csv")), *model)
    assert summary["drift"]["decision"] == "skip", summary["drift"]
    assert "merchant" not in summary["drift"]["drifted_features"]
    assert summary["model_version"] is None
