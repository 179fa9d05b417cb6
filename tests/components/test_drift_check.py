"""Component `drift_check` alone through kfp.local: decision under `Output`, training set, reports."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from mlflow import MlflowClient

from kfp_ct import lineage, settings
from kfp_ct.components import drift_check
from kfp_ct.data.io import write_table
from kfp_ct.data.split import SPLIT_COLUMN
from kfp_ct.data.synth import SynthSpec, make_dataset
from kfp_ct.steps.drift_check import DRIFT_EXPERIMENT

from .helpers import run_alone

pytestmark = pytest.mark.slow
NAME = "comp-drift"


@pytest.fixture(scope="module")
def ran(home):
    reference = write_table(make_dataset(SynthSpec(rows=300, seed=21)), home / "reference.csv")
    window = write_table(make_dataset(SynthSpec(rows=300, seed=23, drift=1.5)), home / "window.csv")
    out = run_alone(
        drift_check,
        home / "root",
        {},
        window_uri=str(window),
        reference_uri=str(reference),
        label="label",
        model_name=NAME,
        drift_config='{"drift_share": 0.5}',
        training_policy="all",
        max_training_rows=0,
        cooldown_hours=0.0,
        primary_metric="auto",
        test_size=0.2,
        seed=42,
        pipeline_run_id="comp-drift-run",
    )
    return window, out


def test_the_decision_is_the_output_named_output(ran):
    _, out = ran
    assert out.parameters["Output"] == "retrain"
    summary = json.loads(out.parameters["summary"])
    assert summary["decision"] == "retrain" and summary["share"] >= 0.5
    assert {"age", "income"} <= set(summary["drifted_features"])


def test_training_set_is_reference_plus_window_with_new_rows_held_out(ran):
    _, out = ran
    produced = out.artifacts["training_set"]
    assert out.parameters["training_data_uri"] == str(produced.path)
    training = pd.read_parquet(produced.path)
    assert len(training) == 600 and (training[SPLIT_COLUMN] == "test").sum() == 60
    tags = json.loads(out.parameters["lineage_tags"])
    assert produced.metadata == {"format": "parquet", "window_hash": tags[lineage.WINDOW_HASH]}
    assert float(tags[lineage.DRIFT_SHARE]) == pytest.approx(json.loads(out.parameters["summary"])["share"])


def test_metrics_reports_and_the_mlflow_record(ran):
    window, out = ran
    metrics = out.artifacts["metrics"].metadata
    assert (
        metrics["training_rows"] == 600 and metrics["drift_share"] >= 0.5 and metrics["drifted_features"] >= 2
    )
    assert "<html" in out.artifacts["drift_report"].path.read_text().lower()
    assert "age" in out.artifacts["report"].path.read_text()
    client = MlflowClient(tracking_uri=settings.tracking_uri())
    experiment = client.get_experiment_by_name(DRIFT_EXPERIMENT)
    [record] = client.search_runs([experiment.experiment_id])
    assert record.data.tags[lineage.DECISION] == "retrain" and record.data.tags[lineage.DATA_URI] == str(
        window
    )
    assert record.data.tags[lineage.PIPELINE_RUN_ID] == "comp-drift-run"
    assert record.data.tags[lineage.MODEL_NAME] == NAME
