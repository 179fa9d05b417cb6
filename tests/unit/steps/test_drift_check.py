"""`kfp_ct.steps.drift_check.run`: retrain/skip, the training set, both reports, the MLflow record."""

from __future__ import annotations

import pandas as pd
import pytest

from kfp_ct import lineage
from kfp_ct.data.io import write_table
from kfp_ct.data.split import SPLIT_COLUMN
from kfp_ct.data.synth import SynthSpec, make_dataset
from kfp_ct.errors import ParameterError
from kfp_ct.steps.drift_check import (
    DRIFT_EXPERIMENT,
    RETRAIN,
    SKIP,
    DriftCheckParams,
    DriftCheckPaths,
    run,
)
from kfp_ct.tracking.registry import mlflow_client


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    """A reference CSV, a window like it and a drifted window (300 rows each)."""
    work = tmp_path_factory.mktemp("windows")
    files = {
        "reference": make_dataset(SynthSpec(rows=300, seed=21)),
        "same": make_dataset(SynthSpec(rows=300, seed=22)),
        "drifted": make_dataset(SynthSpec(rows=300, seed=23, drift=1.5)),
    }
    return {name: str(write_table(frame, work / f"{name}.csv")) for name, frame in files.items()}


def paths(tmp_path) -> DriftCheckPaths:
    return DriftCheckPaths(
        training_set=tmp_path / "training.parquet",
        drift_report=tmp_path / "drift.html",
        report=tmp_path / "drift.md",
    )


def drift_runs(model_name: str) -> list:
    experiment = mlflow_client().get_experiment_by_name(DRIFT_EXPERIMENT)
    found = mlflow_client().search_runs(
        [experiment.experiment_id], f"tags.`{lineage.MODEL_NAME}` = '{model_name}'"
    )
    return list(found)


def test_no_champion_and_no_reference_trains_a_first_model(steps_home, frames, tmp_path):
    params = DriftCheckParams(window_uri=frames["same"], model_name="unit-drift-first", pipeline_run_id="p1")
    out = run(params, paths(tmp_path))
    assert out.decision == RETRAIN and "training a first model" in out.reasons[0]
    assert out.summary == {"decision": RETRAIN, "share": 0.0, "drifted_features": []}
    training = pd.read_parquet(tmp_path / "training.parquet")
    assert len(training) == out.training_rows == 300
    assert set(training[SPLIT_COLUMN]) == {"train", "test"} and (training[SPLIT_COLUMN] == "test").sum() == 60
    assert "No reference data" in (tmp_path / "drift.html").read_text()
    assert (tmp_path / "drift.md").read_text().startswith("# Drift check")
    assert out.lineage_tags() == {lineage.WINDOW_HASH: out.window_hash, lineage.DRIFT_SHARE: "0.0000"}
    [logged] = drift_runs("unit-drift-first")
    assert logged.data.tags[lineage.DECISION] == RETRAIN and logged.data.tags[lineage.PIPELINE_RUN_ID] == "p1"
    assert logged.data.tags[lineage.WINDOW_HASH] == out.window_hash
    assert logged.data.metrics["training_rows"] == 300


def test_a_window_like_the_reference_is_skipped(steps_home, frames, tmp_path):
    params = DriftCheckParams(
        window_uri=frames["same"], reference_uri=frames["reference"], model_name="unit-drift-same"
    )
    out = run(params, paths(tmp_path))
    assert out.decision == SKIP and out.training_rows == 0 and out.summary["drifted_features"] == []
    assert pd.read_parquet(tmp_path / "training.parquet").empty
    assert "<html" in (tmp_path / "drift.html").read_text().lower()


def test_a_drifted_window_retrains_on_reference_and_window(steps_home, frames, tmp_path):
    params = DriftCheckParams(
        window_uri=frames["drifted"], reference_uri=frames["reference"], model_name="unit-drift-shift"
    )
    out = run(params, paths(tmp_path))
    assert out.decision == RETRAIN and out.summary["share"] >= 0.5
    assert {"age", "income"} <= set(out.summary["drifted_features"])
    training = pd.read_parquet(tmp_path / "training.parquet")
    assert out.training_rows == len(training) == 300 + 300  # policy "all": reference + window
    assert (training[SPLIT_COLUMN] == "test").sum() == 60  # only new rows are held out
    assert "age" in (tmp_path / "drift.md").read_text()


def test_params_from_kfp_parse_drift_config():
    params = DriftCheckParams.from_kfp(window_uri="w.csv", drift_config='{"drift_share": 0.3}')
    assert params.drift_config.drift_share == 0.3 and params.drift_config.numeric_test == "ks"
    with pytest.raises(ParameterError, match="drift_config: not valid JSON"):
        DriftCheckParams.from_kfp(window_uri="w.csv", drift_config="{ks: 1}")
    with pytest.raises(ParameterError, match="unknown drift setting"):
        DriftCheckParams.from_kfp(window_uri="w.csv", drift_config='{"nope": 1}')


def test_a_retraining_inside_the_cooldown_is_skipped(steps_home, frames, tmp_path, monkeypatch):
    from datetime import UTC, datetime, timedelta

    from kfp_ct.tracking import history

    trained = datetime.now(UTC) - timedelta(hours=2)  # an earlier training two hours ago
    earlier = [{"version": "1", "tags": {lineage.DATA_HASH: "other"},
                "creation_timestamp": int(trained.timestamp() * 1000)}]  # fmt: skip
    monkeypatch.setattr(history, "earlier_trainings", lambda *args: earlier)
    params = DriftCheckParams(
        window_uri=frames["drifted"], model_name="unit-drift-cooldown", cooldown_hours=24
    )
    out = run(params, paths(tmp_path))
    assert out.decision == SKIP and any("cooldown" in r for r in out.reasons), out.reasons
