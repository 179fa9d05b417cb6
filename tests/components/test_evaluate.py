"""Component `evaluate` alone through kfp.local: held-out metrics, curves, report, training run."""

from __future__ import annotations

import json

import pytest
from kfp.dsl import Artifact, Dataset, Model
from mlflow import MlflowClient

from kfp_ct import settings
from kfp_ct.components import evaluate

from .helpers import run_alone, train_here

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ran(home, validated):
    trained = train_here(validated, home / "model")
    inputs = {
        "model": (home / "model", Model),
        "test_set": (validated.test_set, Dataset),
        "schema": (validated.schema, Artifact),
    }
    return trained, run_alone(evaluate, home / "root", inputs, run_id=trained.run_id)


def test_metrics_output_and_artifact(ran):
    _, out = ran
    held_out = json.loads(out.parameters["metrics_json"])
    assert 0.7 < held_out["roc_auc"] <= 1.0 and 0.6 < held_out["accuracy"] <= 1.0
    metrics = out.artifacts["metrics"].metadata
    assert metrics["roc_auc"] == pytest.approx(held_out["roc_auc"])
    assert 0 < metrics["latency_p50_ms"] <= metrics["latency_p99_ms"]


def test_confusion_matrix_and_roc_curve(ran):
    _, out = ran
    shown = out.artifacts["classification_metrics"].metadata
    matrix = shown["confusionMatrix"]
    assert [c["displayName"] for c in matrix["annotationSpecs"]] == ["0", "1"]
    assert sum(sum(row["row"]) for row in matrix["rows"]) == 80  # 20% of 400 rows
    assert len(shown["confidenceMetrics"]) > 2


def test_report_and_training_run(ran):
    trained, out = ran
    assert out.artifacts["report"].path.read_text().startswith("# Evaluation (binary, 80 held-out rows)")
    client = MlflowClient(tracking_uri=settings.tracking_uri())
    logged = client.get_run(trained.run_id).data.metrics
    assert logged["test_roc_auc"] == pytest.approx(json.loads(out.parameters["metrics_json"])["roc_auc"])
    assert "evaluation.md" in [a.path for a in client.list_artifacts(trained.run_id)]
