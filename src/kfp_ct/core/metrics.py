"""Metrics by name: their direction, their value, and per-row terms for paired tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn import metrics as skm

from kfp_ct.core.tasks import BINARY, REGRESSION, is_classification
from kfp_ct.errors import ParameterError

CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
REGRESSION_METRICS = ("rmse", "mae", "r2")
LOWER_IS_BETTER = {"log_loss", "rmse", "mae"}


@dataclass(frozen=True)
class Scored:
    """Predictions of one model on a set of rows."""

    y_true: np.ndarray
    y_pred: np.ndarray
    proba: np.ndarray | None  # [rows, classes] for classifiers
    classes: np.ndarray | None


def metric_names(task: str) -> tuple[str, ...]:
    """Metrics available for `task`."""
    return REGRESSION_METRICS if task == REGRESSION else CLASSIFICATION_METRICS


def check_metric(name: str, task: str) -> str:
    """Return `name` if it exists for `task`, else raise naming the valid ones."""
    if name not in metric_names(task):
        raise ParameterError(f"unknown metric '{name}' for {task}; choose one of {metric_names(task)}")
    return name


def higher_is_better(name: str) -> bool:
    """Whether a larger value of `name` is better."""
    return name not in LOWER_IS_BETTER


def default_primary(task: str) -> str:
    """The primary metric used when none is given."""
    return {BINARY: "roc_auc", REGRESSION: "rmse"}.get(task, "accuracy")


def score(model, frame, y_true) -> Scored:
    """Predict (and predict_proba for classifiers) on `frame`."""
    y_pred = np.asarray(model.predict(frame))
    proba = classes = None
    if hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(frame), dtype="float64")
        classes = np.asarray(model.classes_)
    return Scored(np.asarray(y_true), y_pred, proba, classes)


def _positive_proba(s: Scored) -> np.ndarray:
    return s.proba[:, 1]


def compute(name: str, task: str, s: Scored, idx: np.ndarray | None = None) -> float:
    """Value of metric `name` on the rows `idx` (all rows when None)."""
    y, p = (s.y_true, s.y_pred) if idx is None else (s.y_true[idx], s.y_pred[idx])
    proba = None if s.proba is None else (s.proba if idx is None else s.proba[idx])
    if name == "rmse":
        return float(np.sqrt(np.mean((y.astype(float) - p.astype(float)) ** 2)))
    if name == "mae":
        return float(np.mean(np.abs(y.astype(float) - p.astype(float))))
    if name == "r2":
        return float(skm.r2_score(y, p))
    if name == "accuracy":
        return float(np.mean(y == p))
    average = "binary" if task == BINARY else "macro"
    pos = {"pos_label": s.classes[1]} if task == BINARY and s.classes is not None else {}
    if name in ("precision", "recall", "f1"):
        fn = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}[name]
        return float(fn(y, p, average=average, zero_division=0, **pos))
    if proba is None:
        return float("nan")
    if name == "log_loss":
        return float(skm.log_loss(y, proba, labels=s.classes))
    if name == "roc_auc":
        if len(np.unique(y)) < 2:
            return float("nan")
        if task == BINARY:
            return float(skm.roc_auc_score(y == s.classes[1], proba[:, 1]))
        present = np.isin(s.classes, np.unique(y))
        if present.sum() < len(s.classes):
            return float("nan")
        return float(skm.roc_auc_score(y, proba, multi_class="ovr", labels=s.classes))
    raise ParameterError(f"unknown metric '{name}'")


def compute_all(task: str, s: Scored) -> dict[str, float]:
    """Every metric of `task`."""
    return {name: compute(name, task, s) for name in metric_names(task)}


def per_row_loss(name: str, s: Scored) -> np.ndarray | None:
    """Per-row terms whose mean is the metric (accuracy, log_loss, mae, rmse^2), else None."""
    y, p = s.y_true, s.y_pred
    if name == "accuracy":
        return (y == p).astype("float64")
    if name == "mae":
        return np.abs(y.astype(float) - p.astype(float))
    if name == "rmse":
        return (y.astype(float) - p.astype(float)) ** 2
    if name == "log_loss" and s.proba is not None:
        index = {c: i for i, c in enumerate(s.classes)}
        cols = np.array([index.get(v, -1) for v in y])
        chosen = np.where(cols >= 0, s.proba[np.arange(len(y)), np.maximum(cols, 0)], 0.0)
        return -np.log(np.clip(chosen, 1e-15, 1.0))
    return None


__all__ = ["Scored", "compute", "compute_all", "is_classification", "per_row_loss", "score"]
