"""Step `train`: fit preprocessing + estimator and log the model to MLflow."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from kfp_ct import lineage
from kfp_ct.core.schema import Schema
from kfp_ct.tracking import models, runs

if TYPE_CHECKING:  # scikit-learn-heavy modules load only in the steps that use them
    pass

log = logging.getLogger(__name__)


@dataclass
class TrainOutput:
    """What train produced."""

    run_id: str
    model_uri: str
    train_metrics: dict[str, float]
    fit_seconds: float


def train_step(
    train_path: Path,
    schema_path: Path,
    estimator: str,
    hyperparameters: str,
    seed: int,
    model_dir: Path,
    lineage_tags: dict[str, str],
) -> TrainOutput:
    """Fit the pipeline, save it to `model_dir` (MLflow format) and log the run to MLflow."""
    from kfp_ct.core import metrics
    from kfp_ct.core.estimators import parse_params
    from kfp_ct.core.train import train_model

    schema = Schema.load(schema_path)
    train = pd.read_parquet(train_path)
    params = parse_params(hyperparameters)
    result = train_model(train, schema, estimator, params, seed)
    x = train[result.features]
    scored = metrics.score(result.model, x, train[schema.label])
    train_metrics = {f"train_{k}": v for k, v in metrics.compute_all(schema.task, scored).items()}
    train_metrics["fit_seconds"] = result.fit_seconds
    logged = runs.log_training(
        result.model,
        x,
        scored.y_pred,
        schema,
        {"estimator": estimator, "seed": seed, "rows": len(train), **params},
        train_metrics,
        {**lineage_tags, lineage.TASK: schema.task, lineage.LABEL_COLUMN: schema.label,
         lineage.TRAINED_AT: datetime.now(UTC).isoformat(timespec="seconds")},
    )  # fmt: skip
    models.save_model(result.model, model_dir, x, scored.y_pred)
    return TrainOutput(logged.run_id, logged.model_uri, train_metrics, result.fit_seconds)
