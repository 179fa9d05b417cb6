"""Performance decay: the champion's metrics on the new window against its recorded metrics."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

# y_true, y_pred, proba (or None) -> metric value
MetricFn = Callable[[np.ndarray, np.ndarray, "np.ndarray | None"], float]

_PREFIXES = ("test_", "val_", "valid_", "validation_", "eval_", "holdout_")
LOWER_IS_BETTER = frozenset({"rmse", "mse", "mae", "log_loss"})


@dataclass(frozen=True)
class MetricDecay:
    """One metric compared with its recorded value."""

    name: str
    recorded: float
    current: float
    relative_change: float  # signed: negative = worse for every metric
    decayed: bool


@dataclass(frozen=True)
class PerformanceDecay:
    """Champion metrics on the labelled window compared with the recorded ones."""

    tolerance: float
    n_labelled: int
    metrics: list[MetricDecay] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # recorded names we cannot compute

    @property
    def decayed(self) -> bool:
        """Whether any compared metric got worse by more than the tolerance."""
        return any(m.decayed for m in self.metrics)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        out = asdict(self)
        out["decayed"] = self.decayed
        return out


def _canonical(name: str) -> str:
    low = name.lower()
    for prefix in _PREFIXES:
        if low.startswith(prefix):
            return low[len(prefix) :]
    return low


def _binary_pos_label(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[str, Any]:
    labels = np.unique(np.concatenate([y_true, y_pred]))
    if len(labels) <= 2:
        return "binary", labels[-1]
    return "macro", None


def _prf(kind: str, average: str | None) -> MetricFn:
    from sklearn import metrics as skm

    fn = {"f1": skm.f1_score, "precision": skm.precision_score, "recall": skm.recall_score}[kind]

    def compute(y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray | None) -> float:
        avg, pos = (average, 1) if average else _binary_pos_label(y_true, y_pred)
        kwargs = {"pos_label": pos} if avg == "binary" else {}
        return float(fn(y_true, y_pred, average=avg, zero_division=0, **kwargs))

    return compute


def builtin_metric(name: str) -> MetricFn | None:
    """Return the function computing a recorded metric name, or None when it is unknown.

    Known names (case-insensitive, optional ``test_``/``val_``/``eval_`` prefix): accuracy,
    f1/precision/recall (binary for two classes with the larger label positive, else macro;
    ``_macro``/``_micro``/``_weighted`` suffixes honoured), roc_auc and log_loss (need
    ``predict_proba``), rmse, mse, mae, r2.
    """
    from sklearn import metrics as skm

    canon = _canonical(name)
    for kind in ("f1", "precision", "recall"):
        for average in ("macro", "micro", "weighted"):
            if canon == f"{kind}_{average}":
                return _prf(kind, average)
        if canon == kind:
            return _prf(kind, None)

    def needs_proba(fn: Callable[..., float]) -> MetricFn:
        def compute(y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray | None) -> float:
            if proba is None:
                return math.nan
            if proba.ndim == 2 and proba.shape[1] == 2:
                proba = proba[:, 1]
            kwargs = {"multi_class": "ovr"} if fn is skm.roc_auc_score and proba.ndim == 2 else {}
            return float(fn(y_true, proba, **kwargs))

        return compute

    table: dict[str, MetricFn] = {
        "accuracy": lambda t, p, _: float(skm.accuracy_score(t, p)),
        "rmse": lambda t, p, _: float(np.sqrt(skm.mean_squared_error(t, p))),
        "mse": lambda t, p, _: float(skm.mean_squared_error(t, p)),
        "mae": lambda t, p, _: float(skm.mean_absolute_error(t, p)),
        "r2": lambda t, p, _: float(skm.r2_score(t, p)),
        "roc_auc": needs_proba(skm.roc_auc_score),
        "log_loss": needs_proba(skm.log_loss),
    }
    return table.get(canon)


def performance_decay(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    proba: np.ndarray | None,
    recorded: Mapping[str, float],
    tolerance: float,
    metric_fns: Mapping[str, MetricFn] | None = None,
) -> PerformanceDecay:
    """Compare the champion's metrics on labelled window rows with its recorded metrics.

    A metric decays when it is worse than recorded by more than ``tolerance`` relative to the
    recorded value (``rmse``/``mse``/``mae``/``log_loss`` are lower-is-better, the rest
    higher-is-better).

    Args:
        y_true: labels of the window rows.
        y_pred: champion predictions for the same rows.
        proba: champion ``predict_proba`` output, or None.
        recorded: the champion's recorded metrics, e.g. ``{"accuracy": 0.91}``.
        tolerance: allowed relative worsening, e.g. 0.05 for 5 %.
        metric_fns: extra or overriding metric functions by recorded name.

    Returns:
        The comparison; names that cannot be computed are listed in ``skipped``.
    """
    compared: list[MetricDecay] = []
    skipped: list[str] = []
    for name, value in recorded.items():
        fn = (metric_fns or {}).get(name) or builtin_metric(name)
        current = fn(y_true, y_pred, proba) if fn is not None else math.nan
        if fn is None or not math.isfinite(current) or not math.isfinite(float(value)):
            skipped.append(name)
            continue
        value = float(value)
        sign = -1.0 if _canonical(name) in LOWER_IS_BETTER else 1.0
        scale = abs(value) if value != 0 else 1.0
        change = sign * (current - value) / scale
        compared.append(MetricDecay(name, value, current, change, change < -tolerance))
    return PerformanceDecay(tolerance, len(y_true), compared, skipped)
