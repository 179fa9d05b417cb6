"""MLflow runs: connect to the configured store, log training runs, add metrics and files."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from kfp_ct import settings
from kfp_ct.core.schema import Schema
from kfp_ct.tracking.retry import retry_call

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoggedModel:
    """Where a trained model went in MLflow."""

    run_id: str
    model_uri: str  # models:/m-<id>
    experiment_id: str


def connect(experiment: str = settings.DEFAULT_EXPERIMENT) -> str:
    """Point MLflow at the configured store and return the experiment id (created if missing).

    A local sqlite store gets its artifacts under `$KFP_CT_HOME/mlartifacts`, never the cwd.
    """
    import mlflow

    uri = settings.tracking_uri()
    mlflow.set_tracking_uri(uri)
    if uri.startswith("sqlite:"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)

    def ensure() -> str:
        found = mlflow.get_experiment_by_name(experiment)
        if found is not None:
            return found.experiment_id
        location = settings.artifact_root().as_uri() if uri.startswith(("sqlite:", "file:")) else None
        return mlflow.create_experiment(experiment, artifact_location=location)

    experiment_id = retry_call(ensure, what=f"MLflow at {uri}")
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def log_training(
    model: Any,
    features: pd.DataFrame,
    predictions: Any,
    schema: Schema,
    params: dict[str, Any],
    metrics: dict[str, float],
    tags: dict[str, str],
) -> LoggedModel:
    """Log one training run: params, metrics, tags, schema and the model with its signature."""
    import mlflow

    from kfp_ct.tracking import models

    experiment_id = connect()
    with mlflow.start_run(experiment_id=experiment_id, tags=tags) as run:
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        mlflow.log_metrics(metrics)
        with tempfile.TemporaryDirectory() as tmp:
            mlflow.log_artifact(str(schema.save(Path(tmp) / "schema.json")))
        model_uri = models.log_model(model, features, predictions)
    log.info("logged run %s, model %s", run.info.run_id, model_uri)
    return LoggedModel(run.info.run_id, model_uri, experiment_id)


def log_to_run(run_id: str, metrics: dict[str, float], files: dict[str, str] | None = None) -> None:
    """Add metrics (and text files, name -> content) to an existing run."""
    import mlflow

    connect()
    client = mlflow.MlflowClient()
    retry_call(
        lambda: client.log_batch(run_id, metrics=[_metric(k, v) for k, v in metrics.items()]),
        what="MLflow log_batch",
    )
    for name, text in (files or {}).items():
        client.log_text(run_id, text, name)


def _metric(key: str, value: float):
    import time

    from mlflow.entities import Metric

    return Metric(key, float(value), int(time.time() * 1000), 0)


def load_schema(run_id: str) -> Schema:
    """The schema logged with a training run."""
    import mlflow

    path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="schema.json")
    return Schema.load(path)


def recent_runs(limit: int) -> list:
    """The latest `limit` runs of every experiment, newest first."""
    import mlflow

    connect()
    return mlflow.search_runs(
        search_all_experiments=True,
        max_results=limit,
        output_format="list",
        order_by=["attributes.start_time DESC"],
    )
