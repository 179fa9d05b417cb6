"""What happened before, in MLflow: earlier trainings and drift decisions (the guards' memory).

Every drift decision is a run in the drift experiment tagged with its window's hash, so the
de-duplication and cooldown guards see windows whose retrained challenger compare rejected.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kfp_ct import lineage
from kfp_ct.drift.report import DriftReport
from kfp_ct.lineage import DECISION, DECISION_REASONS
from kfp_ct.tracking import runs

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


def fetch_model_versions(client: Any, model_name: str) -> list[dict[str, Any]]:
    """Return every version of a registered model as guard records (empty if the model is new).

    Args:
        client: an ``mlflow.MlflowClient``.
        model_name: registered model name.
    """
    # MLflow's filter grammar has no escape character: quote with the quote the name lacks.
    quoted = f'"{model_name}"' if "'" in model_name else f"'{model_name}'"
    records: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = client.search_model_versions(f"name={quoted}", page_token=token)
        records.extend(
            {
                "version": str(mv.version),
                "tags": dict(mv.tags or {}),
                "creation_timestamp": mv.creation_timestamp,
                "run_id": mv.run_id,
            }
            for mv in page
        )
        token = getattr(page, "token", None)
        if not token:
            return records


def _guard_record(version: str, data_hash: str, trained_at: str, created_ms: int) -> dict[str, Any]:
    return {
        "version": version,
        "tags": {lineage.DATA_HASH: data_hash, lineage.TRAINED_AT: trained_at},
        "creation_timestamp": created_ms,
    }


def earlier_trainings(model_name: str, drift_experiment: str, retrain: str) -> list[dict[str, Any]]:
    """Guard records of every earlier training: its data hash and when it happened.

    Registered versions count with their data hash (and retraining window hash). A retraining
    whose challenger compare rejected registers nothing, so earlier drift runs that chose
    retrain count too, once their pipeline run's training reached evaluation.
    Drift runs live in `drift_experiment`, and `retrain` is the decision that trained.
    """
    import mlflow

    runs.connect()
    client = mlflow.MlflowClient()
    records = fetch_model_versions(client, model_name)
    for rec in list(records):
        window = rec["tags"].get(lineage.WINDOW_HASH)
        if window:
            records.append({**rec, "tags": {**rec["tags"], lineage.DATA_HASH: window}})
    drift_runs = mlflow.search_runs(
        experiment_names=[drift_experiment],
        filter_string=(
            f"tags.`{lineage.DECISION}` = '{retrain}' and tags.`{lineage.MODEL_NAME}` = '{model_name}'"
        ),
        output_format="list",
    )
    for run in drift_runs:
        pipeline_run = run.data.tags.get(lineage.PIPELINE_RUN_ID, "")
        trained = mlflow.search_runs(
            search_all_experiments=True,
            # evaluate always logs latency_p50_ms: its presence means training was evaluated
            filter_string=(
                f"tags.`{lineage.PIPELINE_RUN_ID}` = '{pipeline_run}' and metrics.latency_p50_ms >= 0"
            ),
            output_format="list",
        )
        if not trained:
            continue  # that retraining failed before evaluation: the window was not trained on
        started = datetime.fromtimestamp(run.info.start_time / 1000, UTC).isoformat()
        window = run.data.tags.get(lineage.WINDOW_HASH, "")
        records.append(_guard_record(f"{pipeline_run} (drift run)", window, started, run.info.start_time))
    return records


def record_drift_decision(
    experiment: str, tags: dict[str, str], metrics: dict[str, float], summary: dict, html_path: Path
) -> str:
    """Log one drift decision as a run of `experiment`: tags, metrics, summary and HTML report.

    Returns the run's id.
    """
    import mlflow

    runs.connect(experiment)
    with mlflow.start_run(tags=tags) as active, tempfile.TemporaryDirectory() as tmp:
        mlflow.log_metrics(metrics)
        mlflow.log_dict(summary, "drift/summary.json")
        named = Path(tmp) / "drift_report.html"
        shutil.copyfile(html_path, named)
        mlflow.log_artifact(str(named), "drift")
    return active.info.run_id
