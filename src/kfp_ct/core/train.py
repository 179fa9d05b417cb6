"""Fit the preprocessing + estimator pipeline on the training split (optionally after a search)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from kfp_ct.core.device import DeviceChoice, cpu_threads, resolve_device
from kfp_ct.core.estimators import GPU_ESTIMATORS, build_estimator, build_pipeline
from kfp_ct.core.schema import NUMERIC, Schema

if TYPE_CHECKING:
    from kfp_ct.core.search import SearchResult, SearchSpec

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """A fitted pipeline and what describes it."""

    model: Pipeline
    estimator: str
    params: dict[str, Any]  # the hyperparameters of `model` (the best ones after a search)
    features: list[str]
    numeric: list[str]
    categorical: list[str]
    fit_seconds: float
    rows: int
    device: DeviceChoice | None = None
    search: SearchResult | None = None

    def run_params(self) -> dict[str, Any]:
        """What to log as run parameters beside the hyperparameters: device and search summary."""
        out: dict[str, Any] = {}
        if self.device is not None:
            out.update(device=self.device.device, device_requested=self.device.requested)
            out["device_reason"] = self.device.reason
        if self.search is not None:
            out.update(self.search.summary_params())
        return out

    def run_metrics(self) -> dict[str, float]:
        """Search figures to log as run metrics (empty without a search)."""
        return {} if self.search is None else self.search.summary_metrics()


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
    device: str = "auto",
    search: SearchSpec | None = None,
) -> TrainResult:
    """Fit the pipeline on `train` (features + label as described by `schema`).

    Args:
        train: Training rows, features and label.
        schema: Column kinds, label and task.
        estimator: A key of `kfp_ct.core.estimators.ESTIMATORS`.
        params: Fixed hyperparameters (kept as they are during a search).
        seed: Random seed for the estimator, the search sampler and its validation split.
        device: `auto`, `cpu` or `cuda` (see `kfp_ct.core.device`).
        search: A hyperparameter search to run first (`kfp_ct.core.search`); the best is refit here.
    """
    np.random.seed(seed)
    numeric, categorical = feature_columns(schema, train)
    choice = resolve_device(estimator, device, estimator in GPU_ESTIMATORS)
    log.info(
        "device: %s (requested %s) for %s: %s", choice.device, choice.requested, estimator, choice.reason
    )

    def make(hyperparameters: dict[str, Any]) -> Pipeline:
        return build_pipeline(
            numeric,
            categorical,
            build_estimator(estimator, schema.task, hyperparameters, seed, choice.device),
        )

    model = make(params)  # bad names or values fail here, before any search
    features = numeric + categorical
    x, y = train[features], train[schema.label]
    outcome = None
    with cpu_threads(len(train)):  # small fits: OpenMP threads cost more than they share
        if search is not None:
            from kfp_ct.core.search import run_search

            outcome = run_search(make, x, y, schema.task, search, estimator, params, seed)
            params = outcome.best_params
            model = make(params)
        log.info("training %s on %d rows, %d features", estimator, len(train), len(features))
        start = time.perf_counter()
        model.fit(x, y)
        _after_fit(model)
        seconds = time.perf_counter() - start
    log.info("trained in %.2f s", seconds)
    if outcome is not None:
        outcome.refit_seconds = seconds
    return TrainResult(
        model, estimator, params, features, numeric, categorical, seconds, len(train), choice, outcome
    )


def _after_fit(model: Pipeline) -> None:
    """Models trained on a GPU are saved to predict on the CPU (no GPU needed to serve them)."""
    final = model.steps[-1][1]
    if type(final).__module__.startswith(("xgboost.", "kfp_ct.core.boosting")):
        from kfp_ct.core.boosting import after_fit

        after_fit(final)
