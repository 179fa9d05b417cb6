"""Component `train` alone through kfp.local: the MLflow model, its run, metrics and metadata."""

from __future__ import annotations

import pytest
from kfp.dsl import Artifact, Dataset
from mlflow import MlflowClient

from kfp_ct import lineage, settings
from kfp_ct.components import train
from kfp_ct.tracking import models

from .helpers import run_alone

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ran(home, validated, data_csv):
    inputs = {"train_set": (validated.train_set, Dataset), "schema": (validated.schema, Artifact)}
    return run_alone(
        train,
        home / "root",
        inputs,
        estimator="hist_gradient_boosting",
        hyperparameters='{"max_iter": 20}',
        seed=3,
        pipeline_run_id="comp-train",
        data_hash="hash-1",
        data_uri=str(data_csv),
    )


def test_model_artifact_loads_and_names_its_run(ran):
    run_id, model_uri = ran.parameters["run_id"], ran.parameters["model_uri"]
    assert run_id and model_uri.startswith("models:/")
    model = ran.artifacts["model"]
    assert model.metadata == {
        "mlflow_run_id": run_id,
        "mlflow_model_uri": model_uri,
        "estimator": "hist_gradient_boosting",
    }
    assert (model.path / "MLmodel").is_file()
    loaded = models.load_model(model.path)
    assert "age" in loaded.feature_names_in_ and "label" not in loaded.feature_names_in_


def test_train_metrics(ran):
    metrics = ran.artifacts["metrics"].metadata
    assert 0.7 < metrics["train_roc_auc"] <= 1.0 and 0.6 < metrics["train_accuracy"] <= 1.0
    assert metrics["fit_seconds"] > 0


def test_the_mlflow_run_has_params_metrics_and_lineage(ran, data_csv):
    run = MlflowClient(tracking_uri=settings.tracking_uri()).get_run(ran.parameters["run_id"])
    assert run.data.params["estimator"] == "hist_gradient_boosting" and run.data.params["max_iter"] == "20"
    assert run.data.metrics["train_roc_auc"] == pytest.approx(
        ran.artifacts["metrics"].metadata["train_roc_auc"]
    )
    tags = run.data.tags
    assert tags[lineage.PIPELINE_RUN_ID] == "comp-train" and tags[lineage.DATA_HASH] == "hash-1"
    assert tags[lineage.DATA_URI] == str(data_csv) and tags[lineage.TASK] == "binary"
