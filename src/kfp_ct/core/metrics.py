"""Metrics by name: their direction, their value, per-row terms and standard errors.

The only implementation of each metric: the held-out evaluation, the promotion gate and the
drift step's decay check all call `compute`, so a recorded value and a value measured on a new
window mean the same thing. Conventions that hold on any set of rows:

- binary precision / recall / f1 take the model's second class (`classes[1]`) as positive, so a
  window without positives scores f1 = 0, never the f1 of the negative class;
- a class the model never saw (absent from `classes`) gets probability 0: its rows are the
  model's errors (wrong predictions, log-loss terms of -log(1e-15)), never a crash;
- multiclass ROC AUC is the mean one-vs-rest AUC over the classes present in the rows (each with
  rows of its own and rows of others); it is NaN only when fewer than two classes are present.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps
from sklearn import metrics as skm

from kfp_ct.core.paired import bootstrap_counts, rows_of
from kfp_ct.core.tasks import BINARY, REGRESSION, is_classification
from kfp_ct.errors import ParameterError

CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
REGRESSION_METRICS = ("rmse", "mae", "r2")
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae"})
# Recorded names may carry the split they were measured on (`test_roc_auc`).
PREFIXES = ("test_", "val_", "valid_", "validation_", "eval_", "holdout_")
ROWS = "n_rows"  # the entry of a metrics dict that counts the rows behind it (not a metric)
PROBA_FLOOR = 1e-15


@dataclass(frozen=True)
class Scored:
    """Predictions of one model on a set of rows."""

    y_true: np.ndarray
    y_pred: np.ndarray
    proba: np.ndarray | None  # [rows, classes] for classifiers
    classes: np.ndarray | None

    def take(self, idx: np.ndarray) -> Scored:
        """The same predictions on the rows `idx`."""
        proba = None if self.proba is None else self.proba[idx]
        return Scored(self.y_true[idx], self.y_pred[idx], proba, self.classes)


def metric_names(task: str) -> tuple[str, ...]:
    """Metrics available for `task`."""
    return REGRESSION_METRICS if task == REGRESSION else CLASSIFICATION_METRICS


def check_metric(name: str, task: str) -> str:
    """Return `name` if it exists for `task`, else raise naming the valid ones."""
    if name not in metric_names(task):
        raise ParameterError(f"unknown metric '{name}' for {task}; choose one of {metric_names(task)}")
    return name


def canonical(name: str) -> str:
    """A recorded metric name without its split prefix, lower case (`test_ROC_AUC` -> `roc_auc`)."""
    low = name.lower()
    for prefix in PREFIXES:
        if low.startswith(prefix):
            return low[len(prefix) :]
    return low


def higher_is_better(name: str) -> bool:
    """Whether a larger value of `name` is better."""
    return canonical(name) not in LOWER_IS_BETTER


def default_primary(task: str) -> str:
    """The primary metric used when none is given."""
    return {BINARY: "roc_auc", REGRESSION: "rmse"}.get(task, "accuracy")


def score(model, frame, y_true) -> Scored:
    """Predict (and predict_proba for classifiers) on `frame` (one OpenMP thread for small frames)."""
    from kfp_ct.core.device import cpu_threads

    proba = classes = None
    with cpu_threads(len(frame)):
        y_pred = np.asarray(model.predict(frame))
        if hasattr(model, "predict_proba"):
            proba = np.asarray(model.predict_proba(frame), dtype="float64")
            classes = np.asarray(model.classes_)
    return Scored(np.asarray(y_true), y_pred, proba, classes)


def positive_label(s: Scored):
    """The positive class of a binary task: the model's second class."""
    if s.classes is not None and len(s.classes) >= 2:
        return s.classes[1]
    seen = np.unique(np.concatenate([np.asarray(s.y_true), np.asarray(s.y_pred)]))
    return seen[-1]  # no model classes: the larger label, as scikit-learn does


def true_class_proba(s: Scored) -> np.ndarray:
    """The probability each row's true class got (0 for a class the model never saw)."""
    index = {c: i for i, c in enumerate(s.classes)}
    cols = np.array([index.get(v, -1) for v in s.y_true], dtype=np.int64)
    chosen = s.proba[np.arange(len(cols)), np.maximum(cols, 0)]
    return np.where(cols >= 0, chosen, 0.0)


def compute(name: str, task: str, s: Scored, idx: np.ndarray | None = None) -> float:
    """Value of metric `name` on the rows `idx` (all rows when None)."""
    s = s if idx is None else s.take(idx)
    y, p = s.y_true, s.y_pred
    if len(y) == 0:
        return float("nan")
    if name == "rmse":
        return float(np.sqrt(np.mean((y.astype(float) - p.astype(float)) ** 2)))
    if name == "mae":
        return float(np.mean(np.abs(y.astype(float) - p.astype(float))))
    if name == "r2":
        return float(skm.r2_score(y, p)) if len(y) > 1 else float("nan")
    if name == "accuracy":
        return float(np.mean(y == p))
    if name in ("precision", "recall", "f1"):
        fn = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}[name]
        if task == BINARY:  # the positive class against everything else, unseen classes included
            pos = positive_label(s)
            return float(fn(y == pos, p == pos, zero_division=0))
        return float(fn(y, p, average="macro", zero_division=0))
    if s.proba is None:
        return float("nan")
    if name == "log_loss":
        return float(np.mean(per_row_loss("log_loss", s)))
    if name == "roc_auc":
        return _roc_auc(task, s)
    raise ParameterError(f"unknown metric '{name}'")


def _roc_auc(task: str, s: Scored) -> float:
    y = s.y_true
    if len(np.unique(y)) < 2:
        return float("nan")
    if task == BINARY:
        return float(skm.roc_auc_score(y == positive_label(s), s.proba[:, 1]))
    aucs = []
    for i, cls in enumerate(s.classes):
        is_cls = y == cls
        if 0 < is_cls.sum() < len(y):
            aucs.append(skm.roc_auc_score(is_cls, s.proba[:, i]))
    unseen = np.unique(y[~np.isin(y, s.classes)])
    aucs += [0.5] * len(unseen)  # a class the model never saw: it cannot rank it (chance, 0.5)
    return float(np.mean(aucs))  # two classes present give at least two entries


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
        return -np.log(np.clip(true_class_proba(s), PROBA_FLOOR, 1.0))
    return None


def resampled(name: str, task: str, s: Scored, counts: np.ndarray) -> np.ndarray | None:
    """Metric `name` on many bootstrap resamples at once, or None where there is no fast path.

    `counts[b, i]` is how often row `i` is drawn in resample `b` (a bootstrap draw of row indices
    is the same as multinomial counts). Every metric here has a vectorised form that gives, on
    each resample, what `compute` gives on the same rows: weighted means of per-row terms,
    weighted confusion counts (precision, recall, f1), weighted sums of squares (r2) and
    weighted Mann-Whitney statistics (ROC AUC, one per class for multiclass).
    """
    terms = per_row_loss(name, s)
    if terms is not None:
        means = counts @ terms / counts.sum(axis=1)
        return np.sqrt(means) if name == "rmse" else means
    if name == "r2":
        y, w = s.y_true.astype(float), counts.astype(np.float64)
        total = w.sum(axis=1)
        residual = w @ (y - s.y_pred.astype(float)) ** 2
        spread = w @ y**2 - (w @ y) ** 2 / total
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(spread > 0, 1 - residual / spread, np.nan)
    if name in ("precision", "recall", "f1"):
        return _weighted_prf(name, task, s, counts)
    if name == "roc_auc" and s.proba is not None:
        if task == BINARY:
            return _weighted_auc(s.y_true == positive_label(s), s.proba[:, 1], counts)
        return _weighted_macro_auc(s, counts)
    return None


def _weighted_prf(name: str, task: str, s: Scored, counts: np.ndarray) -> np.ndarray:
    """Precision, recall or f1 (binary: of the positive class; else macro) per resample."""
    y, p = s.y_true, s.y_pred
    labels = [positive_label(s)] if task == BINARY else list(np.unique(np.concatenate([y, p])))
    values, present = [], []
    for label in labels:
        is_y, is_p = y == label, p == label
        tp = counts @ (is_y & is_p).astype(np.float64)
        fp = counts @ (~is_y & is_p).astype(np.float64)
        fn = counts @ (is_y & ~is_p).astype(np.float64)
        num, den = {"precision": (tp, tp + fp), "recall": (tp, tp + fn), "f1": (2 * tp, 2 * tp + fp + fn)}[
            name
        ]
        with np.errstate(invalid="ignore", divide="ignore"):
            values.append(np.where(den > 0, num / den, 0.0))
        present.append((tp + fp + fn) > 0)
    if task == BINARY:
        return values[0]
    v, m = np.array(values), np.array(present)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(m.any(axis=0), (v * m).sum(axis=0) / m.sum(axis=0), np.nan)


def _weighted_macro_auc(s: Scored, counts: np.ndarray) -> np.ndarray:
    """Multiclass ROC AUC per resample: mean one-vs-rest AUC over the classes it holds."""
    y = s.y_true
    aucs = [_weighted_auc(y == cls, s.proba[:, i], counts) for i, cls in enumerate(s.classes)]
    known = np.nan_to_num(np.array(aucs))
    valid = np.isfinite(np.array(aucs))
    held = [counts @ (y == cls).astype(np.float64) > 0 for cls in np.unique(y[~np.isin(y, s.classes)])]
    unseen = np.array(held).sum(axis=0) if held else np.zeros(len(counts))
    labels = np.array([counts @ (y == c).astype(np.float64) > 0 for c in np.unique(y)]).sum(axis=0)
    total = (known * valid).sum(axis=0) + 0.5 * unseen
    entries = valid.sum(axis=0) + unseen
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((labels >= 2) & (entries > 0), total / entries, np.nan)


def _weighted_auc(positive: np.ndarray, scores: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """ROC AUC of each row of weights `counts` (ties count one half).

    For each positive row, the negatives scored below it (and tied with it) are found once by
    binary search; each resample then only sums cumulative negative weights at those positions.
    """
    neg_order = np.flatnonzero(~positive)[np.argsort(scores[~positive], kind="stable")]
    pos_rows = np.flatnonzero(positive)
    neg_sorted = scores[neg_order]
    low = np.searchsorted(neg_sorted, scores[pos_rows], side="left")
    high = np.searchsorted(neg_sorted, scores[pos_rows], side="right")
    cum = np.zeros((len(counts), len(neg_order) + 1), dtype=np.float32)  # exact below 2**24 rows
    np.cumsum(counts[:, neg_order], axis=1, out=cum[:, 1:])
    below = cum[:, low] + cum[:, high]  # twice (negatives below + half the tied ones)
    w_pos = counts[:, pos_rows].astype(np.float32)
    wins = np.einsum("ij,ij->i", w_pos, below, dtype=np.float64) / 2
    total = w_pos.sum(axis=1, dtype=np.float64) * cum[:, -1].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, wins / total, np.nan)


def standard_error(
    name: str, task: str, s: Scored, seed: int = 0, n_resamples: int = 200, max_rows: int = 5000
) -> float:
    """Standard error of metric `name` measured on the rows of `s`.

    Means of per-row terms use the sample standard deviation (the delta method for rmse);
    binary ROC AUC uses DeLong's variance; other metrics a bootstrap on at most `max_rows` rows,
    scaled to the full row count by sqrt(rows used / rows).
    """
    n = len(s.y_true)
    if n < 2:
        return float("nan")
    terms = per_row_loss(name, s)
    if terms is not None:
        se = float(np.std(terms, ddof=1) / np.sqrt(n))
        if name == "rmse":
            rmse = float(np.sqrt(np.mean(terms)))
            return se / (2 * rmse) if rmse > 0 else 0.0
        return se
    if name == "roc_auc" and task == BINARY and s.proba is not None:
        return _delong_se(s.y_true == positive_label(s), s.proba[:, 1])
    rng = np.random.default_rng(seed)
    rows = np.arange(n) if n <= max_rows else rng.choice(n, max_rows, replace=False)
    sub = s.take(rows)
    values = []
    for counts in bootstrap_counts(len(rows), n_resamples, seed):
        batch = resampled(name, task, sub, counts)
        values.append(batch if batch is not None else [compute(name, task, sub, rows_of(c)) for c in counts])
    drawn = np.concatenate(values)
    drawn = drawn[np.isfinite(drawn)]
    if drawn.size < 2:
        return float("nan")
    return float(np.std(drawn, ddof=1) * np.sqrt(len(rows) / n))


def _delong_se(positive: np.ndarray, scores: np.ndarray) -> float:
    """DeLong's standard error of the ROC AUC (midranks; ties count one half)."""
    pos, neg = scores[positive], scores[~positive]
    m, k = len(pos), len(neg)
    if m < 2 or k < 2:
        return float("nan")
    ranks = sps.rankdata(np.concatenate([pos, neg]))
    v10 = (ranks[:m] - sps.rankdata(pos)) / k  # per positive: share of negatives ranked below
    v01 = 1.0 - (ranks[m:] - sps.rankdata(neg)) / m  # per negative: share of positives above
    return float(np.sqrt(np.var(v10, ddof=1) / m + np.var(v01, ddof=1) / k))


__all__ = [
    "Scored",
    "canonical",
    "compute",
    "compute_all",
    "is_classification",
    "per_row_loss",
    "resampled",
    "score",
    "standard_error",
]
