"""What a person needs to judge a model on its held-out rows: intervals, curves and residuals.

Confidence intervals are percentile bootstraps over the held-out predictions (no refitting),
computed with `kfp_ct.core.metrics.resampled` on shared resamples, so one interval costs a few
matrix products. Curves are thinned to a few hundred points: small artifacts, same picture.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics as skm

from kfp_ct.core import metrics
from kfp_ct.core.paired import bootstrap_counts, rows_of
from kfp_ct.core.tasks import BINARY, REGRESSION

CURVE_POINTS = 200
RESIDUAL_POINTS = 2000


def metric_intervals(
    task: str, scored: metrics.Scored, n_resamples: int = 200, confidence: float = 0.95, seed: int = 0
) -> dict[str, list[float]]:
    """Metric name -> [low, high], a percentile bootstrap interval over the held-out rows."""
    n = len(scored.y_true)
    if n < 2:
        return {}
    draws: dict[str, list[np.ndarray]] = {name: [] for name in metrics.metric_names(task)}
    for counts in bootstrap_counts(n, n_resamples, seed):
        for name, found in draws.items():
            values = metrics.resampled(name, task, scored, counts)
            if values is None:
                values = np.array([metrics.compute(name, task, scored, rows_of(c)) for c in counts])
            found.append(np.asarray(values, dtype="float64"))
    tail = (1.0 - confidence) / 2 * 100
    out = {}
    for name, found in draws.items():
        values = np.concatenate(found)
        values = values[np.isfinite(values)]
        if values.size >= 2:
            out[name] = [float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))]
    return out


def _thin(n: int, limit: int = CURVE_POINTS) -> np.ndarray:
    if n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(int))


def _curves_for(positive: np.ndarray, score: np.ndarray) -> tuple[dict[str, Any], dict[str, Any]] | None:
    if positive.all() or not positive.any():
        return None
    fpr, tpr, _ = skm.roc_curve(positive, score)
    precision, recall, _ = skm.precision_recall_curve(positive, score)
    keep, keep_pr = _thin(len(fpr)), _thin(len(precision))
    roc = {"fpr": fpr[keep].tolist(), "tpr": tpr[keep].tolist(), "auc": float(skm.auc(fpr, tpr))}
    pr = {
        "precision": precision[keep_pr].tolist(),
        "recall": recall[keep_pr].tolist(),
        "average_precision": float(skm.average_precision_score(positive, score)),
        "prevalence": float(positive.mean()),
    }
    return roc, pr


def classifier_curves(task: str, scored: metrics.Scored) -> dict[str, Any]:
    """ROC and precision-recall curves: of the positive class (binary) or one per class."""
    if scored.proba is None or scored.classes is None:
        return {"roc": {}, "pr": {}}
    y = scored.y_true
    if task == BINARY:
        columns = [(str(scored.classes[1]), 1)] if len(scored.classes) >= 2 else []
    else:
        columns = [(str(c), i) for i, c in enumerate(scored.classes)]
    roc, pr = {}, {}
    for label, i in columns:
        found = _curves_for(y == scored.classes[i], scored.proba[:, i])
        if found is not None:
            roc[label], pr[label] = found
    return {"roc": roc, "pr": pr}


def confusion(scored: metrics.Scored) -> dict[str, Any]:
    """Classes and the confusion matrix (rows: true class, columns: predicted)."""
    classes = list(scored.classes) if scored.classes is not None else sorted(set(scored.y_true))
    matrix = skm.confusion_matrix(scored.y_true, scored.y_pred, labels=classes)
    return {"classes": [str(c) for c in classes], "matrix": matrix.tolist()}


def residuals(scored: metrics.Scored, limit: int = RESIDUAL_POINTS, seed: int = 0) -> dict[str, list[float]]:
    """True and predicted values of at most `limit` held-out rows (for residual plots)."""
    n = len(scored.y_true)
    rows = (
        np.arange(n) if n <= limit else np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))
    )
    return {
        "y_true": scored.y_true[rows].astype(float).tolist(),
        "y_pred": scored.y_pred[rows].astype(float).tolist(),
    }


def diagnose(task: str, scored: metrics.Scored, n_resamples: int = 200, seed: int = 0) -> dict[str, Any]:
    """Metrics, their intervals, and curves (classifiers) or residuals (regression), JSON-safe."""
    out: dict[str, Any] = {
        "task": task,
        "rows": len(scored.y_true),
        "metrics": metrics.compute_all(task, scored),
        "intervals": metric_intervals(task, scored, n_resamples, 0.95, seed),
        "confidence": 0.95,
        "n_resamples": n_resamples,
    }
    if task == REGRESSION:
        out["residuals"] = residuals(scored, seed=seed)
    else:
        out["confusion"] = confusion(scored)
        out.update(classifier_curves(task, scored))
    return out
