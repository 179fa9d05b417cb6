"""`kfp_ct.steps.evaluate.run`: held-out metrics, curves, latency, the report, the training run."""

from __future__ import annotations

import pytest

from kfp_ct.steps.evaluate import EvaluateParams, EvaluatePaths, run
from kfp_ct.tracking.registry import mlflow_client


def paths(trained, tmp_path) -> EvaluatePaths:
    return EvaluatePaths(
        model=trained.model, test_set=trained.test_set, schema=trained.schema, report=tmp_path / "eval.md"
    )


def test_evaluate_measures_the_held_out_rows_and_logs_them(trained, tmp_path):
    out = run(EvaluateParams(run_id=trained.out.run_id), paths(trained, tmp_path))
    assert 0.7 < out.metrics["roc_auc"] <= 1.0 and 0.6 < out.metrics["accuracy"] <= 1.0
    assert 0 < out.latency_ms["p50"] <= out.latency_ms["p99"]
    assert out.classes == ["0", "1"]
    held_out = sum(sum(row) for row in out.confusion)
    assert held_out == 80  # 20% of the 400 rows
    assert len(out.roc["fpr"]) == len(out.roc["tpr"]) == len(out.roc["thresholds"]) > 2
    report = (tmp_path / "eval.md").read_text()
    assert report.startswith("# Evaluation (binary, 80 held-out rows)") and "roc_auc" in report
    client = mlflow_client()
    logged = client.get_run(trained.out.run_id).data.metrics
    assert logged["test_roc_auc"] == pytest.approx(out.metrics["roc_auc"])
    assert logged["latency_p50_ms"] == pytest.approx(out.latency_ms["p50"])
    artifacts = [a.path for a in client.list_artifacts(trained.out.run_id)]
    assert "evaluation.md" in artifacts


def test_evaluate_without_a_run_logs_nowhere(trained, tmp_path):
    before = mlflow_client().get_run(trained.out.run_id).data.metrics
    out = run(EvaluateParams(), paths(trained, tmp_path))
    assert 0.7 < out.metrics["roc_auc"] <= 1.0 and (tmp_path / "eval.md").is_file()
    after = mlflow_client().get_run(trained.out.run_id).data.metrics
    assert after == before
