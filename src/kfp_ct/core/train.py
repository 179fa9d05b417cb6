"""Fit the preprocessing + estimator pipeline on the training split."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from kfp_ct.core.estimators import build_estimator, build_pipeline
from kfp_ct.core.schema import NUMERIC, Schema

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """A fitted pipeline and what describes it."""

    model: Pipeline
    estimator: str
    params: dict[str, Any]
    features: list[str]
    numeric: list[str]
    categorical: list[str]
    fit_seconds: float
    rows: int


def feature_columns(schema: Schema, frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Numeric and categorical feature names, in frame order."""
    kinds = {c.name: c.kind for c in schema.features}
    present = [c for c in frame.columns if c in kinds]
    return [c for c in present if kinds[c] == NUMERIC], [c for c in present if kinds[c] != NUMERIC]


def train_model(
    train: pd.DataFrame,
    schema: Schema,
    estimator: str,
    params: dict[str, Any],
    seed: int,
) -> TrainResult:
    """Fit the pipeline on `train` (features + label as described by `schema`)."""
    np.random.seed(seed)
    numeric, categorical = feature_columns(schema, train)
    model = build_pipeline(numeric, categorical, build_estimator(estimator, schema.task, params, seed))
    features = numeric + categorical
    log.info("training %s on %d rows, %d features", estimator, len(train), len(features))
    start = time.perf_counter()
    model.fit(train[features], train[schema.label])
    seconds = time.perf_counter() - start
    log.info("trained in %.2f s", seconds)
    return TrainResult(model, estimator, params, features, numeric, categorical, seconds, len(train))
