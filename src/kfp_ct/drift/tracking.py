"""Log a drift report to MLflow: metrics, decision tags, JSON and HTML artifacts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kfp_ct.drift.report import DriftReport
from kfp_ct.lineage import DECISION, DECISION_REASONS

MAX_TAG_CHARS = 5000


def log_drift_to_mlflow(
    report: DriftReport,
    client: Any,
    run_id: str,
    html_path: str | Path | None = None,
    artifact_dir: str = "drift",
) -> None:
    """Log the report on an existing MLflow run.

    Writes ``report.metrics()`` as metrics, the decision and its reasons as the
    ``kfp_ct.decision`` / ``kfp_ct.decision_reasons`` tags, ``drift_report.json`` and the
    optional HTML file under ``artifact_dir``.

    Args:
        report: the drift report.
        client: an ``mlflow.MlflowClient``.
        run_id: the MLflow run to log on.
        html_path: an HTML report to attach (e.g. from ``render_evidently_html``).
        artifact_dir: artifact folder on the run.
    """
    import tempfile
    import time

    from mlflow.entities import Metric, RunTag

    now_ms = int(time.time() * 1000)
    metrics = [Metric(k, v, now_ms, 0) for k, v in report.metrics().items()]
    tags = [
        RunTag(DECISION, report.decision),
        RunTag(DECISION_REASONS, " | ".join(report.reasons)[:MAX_TAG_CHARS]),
    ]
    client.log_batch(run_id, metrics=metrics, tags=tags)
    with tempfile.TemporaryDirectory() as tmp:
        json_path = Path(tmp) / "drift_report.json"
        json_path.write_text(report.to_json())
        client.log_artifact(run_id, str(json_path), artifact_dir)
    if html_path is not None:
        client.log_artifact(run_id, str(html_path), artifact_dir)
