"""Step `train`: fit preprocessing + estimator and log the model to MLflow."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from kfp_ct import lineage
from kfp_ct.core.schema import Schema
from kfp_ct.params import json_object
from kfp_ct.tracking import models, runs

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class TrainParams:
    """Which estimator to fit, and the lineage its run records."""

    estimator: str = "hist_gradient_boosting"  # a name in kfp_ct.core.estimators.ESTIMATORS
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    search: dict[str, Any] = field(default_factory=dict)  # kfp_ct.core.search; empty: no search
    device: str = "auto"  # auto | cpu | cuda (kfp_ct.core.device)
    seed: int = 42
    pipeline_run_id: str = ""
    data_hash: str = ""
    data_uri: str = ""

    @classmethod
    def from_kfp(cls, *, hyperparameters: str, search: str = "{}", **fields: Any) -> TrainParams:
        """Build from the component's parameters (`hyperparameters` and `search` as JSON text)."""
        return cls(
            hyperparameters=json_object(hyperparameters, "hyperparameters"),
            search=json_object(search, "search"),
            **fields,
        )

    def lineage_tags(self) -> dict[str, str]:
        """Tags linking the run to its pipeline run and data."""
        return {
            lineage.PIPELINE_RUN_ID: self.pipeline_run_id,
            lineage.DATA_HASH: self.data_hash,
            lineage.DATA_URI: self.data_uri,
        }


@dataclass(frozen=True, kw_only=True)
class TrainPaths:
    """Files train reads (train_set, schema) and writes (model, an MLflow model folder)."""

    train_set: Path
    schema: Path
    model: Path


@dataclass
class TrainOutput:
    """What train produced."""

    run_id: str
    model_uri: str
    train_metrics: dict[str, float]
    fit_seconds: float


def run(params: TrainParams, paths: TrainPaths) -> TrainOutput:
    """Fit the pipeline, save it to `paths.model` (MLflow format) and log the run to MLflow."""
    from kfp_ct.core import metrics
    from kfp_ct.core.search import parse_search
    from kfp_ct.core.train import train_model

    search = parse_search(params.search)
    schema = Schema.load(paths.schema)
    train = pd.read_parquet(paths.train_set)
    result = train_model(
        train, schema, params.estimator, dict(params.hyperparameters), params.seed, params.device, search
    )
    hyperparameters = result.params  # the best ones after a search
    x = train[result.features]
    scored = metrics.score(result.model, x, train[schema.label])
    train_metrics = {f"train_{k}": v for k, v in metrics.compute_all(schema.task, scored).items()}
    train_metrics["fit_seconds"] = result.fit_seconds
    train_metrics.update(result.run_metrics())
    logged_params = {"estimator": params.estimator, "seed": params.seed, "rows": len(train)}
    logged_params.update(result.run_params())
    tags = {
        **params.lineage_tags(),
        lineage.TASK: schema.task,
        lineage.LABEL_COLUMN: schema.label,
        lineage.TRAINED_AT: datetime.now(UTC).isoformat(timespec="seconds"),
    }
    example = schema.with_source_dtypes(x)  # the signature takes what users send (int64 stays int64)
    run_params = {**logged_params, **hyperparameters}
    logged = runs.log_training(result.model, example, scored.y_pred, schema, run_params, train_metrics, tags)
    if result.search is not None:
        runs.log_child_runs(logged.run_id, result.search.child_runs())
    models.copy_logged_model(logged.model_uri, paths.model)  # the logged files, not a second save
    return TrainOutput(logged.run_id, logged.model_uri, train_metrics, result.fit_seconds)
