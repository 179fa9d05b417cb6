"""The report's pictures as PNG bytes, drawn with matplotlib's Agg backend (no display, no files).

Each function takes plain data (lists from `kfp_ct.core.diagnostics`) and returns PNG bytes, small
enough to inline in the HTML report and to log to MLflow.
"""

from __future__ import annotations

import io
from typing import Any

DPI = 80
SIZE = (5.0, 4.0)


def _figure(size: tuple[float, float] = SIZE):
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    return Figure(figsize=size, dpi=DPI, layout="constrained")


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def confusion_matrix_png(classes: list[str], matrix: list[list[int]]) -> bytes:
    """Counts of true (rows) against predicted (columns) classes."""
    import numpy as np

    values = np.asarray(matrix)
    fig = _figure()
    ax = fig.subplots()
    image = ax.imshow(values, cmap="Blues")
    fig.colorbar(image, ax=ax, shrink=0.8)
    ticks = range(len(classes))
    ax.set_xticks(ticks, classes, rotation=45 if len(classes) > 4 else 0)
    ax.set_yticks(ticks, classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix")
    limit = values.max() / 2 if values.size else 0
    for (i, j), count in np.ndenumerate(values):
        ax.text(j, i, str(count), ha="center", va="center", color="white" if count > limit else "black")
    return _png(fig)


def roc_png(curves: dict[str, dict[str, Any]]) -> bytes:
    """ROC curve of each class given (one for a binary task), with the chance diagonal."""
    fig = _figure()
    ax = fig.subplots()
    for label, c in curves.items():
        ax.plot(c["fpr"], c["tpr"], label=f"{label} (AUC {c['auc']:.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC curve")
    ax.legend(loc="lower right", fontsize="small")
    return _png(fig)


def pr_png(curves: dict[str, dict[str, Any]]) -> bytes:
    """Precision-recall curve of each class given, with each class's prevalence as the baseline."""
    fig = _figure()
    ax = fig.subplots()
    for label, c in curves.items():
        (line,) = ax.plot(c["recall"], c["precision"], label=f"{label} (AP {c['average_precision']:.3f})")
        ax.axhline(c["prevalence"], linestyle=":", linewidth=1, color=line.get_color())
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_ylim(0, 1.02)
    ax.set_title("Precision-recall curve")
    ax.legend(loc="lower left", fontsize="small")
    return _png(fig)


def residuals_png(y_true: list[float], y_pred: list[float]) -> bytes:
    """Residuals (true - predicted) against predicted values."""
    import numpy as np

    true, pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    fig = _figure()
    ax = fig.subplots()
    ax.scatter(pred, true - pred, s=6, alpha=0.5)
    ax.axhline(0, color="grey", linewidth=1)
    ax.set_xlabel("predicted")
    ax.set_ylabel("residual (true - predicted)")
    ax.set_title("Residuals")
    return _png(fig)


def residual_hist_png(y_true: list[float], y_pred: list[float]) -> bytes:
    """Distribution of the residuals."""
    import numpy as np

    res = np.asarray(y_true, dtype=float) - np.asarray(y_pred, dtype=float)
    fig = _figure()
    ax = fig.subplots()
    ax.hist(res, bins=40)
    ax.axvline(0, color="grey", linewidth=1)
    ax.set_xlabel("residual (true - predicted)")
    ax.set_ylabel("rows")
    ax.set_title("Residual distribution")
    return _png(fig)


def predicted_vs_true_png(y_true: list[float], y_pred: list[float]) -> bytes:
    """Predicted against true values, with the identity line."""
    import numpy as np

    true, pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    fig = _figure()
    ax = fig.subplots()
    ax.scatter(true, pred, s=6, alpha=0.5)
    low, high = float(min(true.min(), pred.min())), float(max(true.max(), pred.max()))
    ax.plot([low, high], [low, high], linestyle="--", color="grey", linewidth=1)
    ax.set_xlabel("true")
    ax.set_ylabel("predicted")
    ax.set_title("Predicted vs true")
    return _png(fig)


def drift_png(features: list[dict[str, Any]]) -> bytes:
    """Effect size of each feature's drift against its threshold; drifted features in red."""
    shown = features[:30]
    fig = _figure((6.0, max(2.0, 0.3 * len(shown) + 1.0)))
    ax = fig.subplots()
    names = [str(f["feature"]) for f in shown][::-1]
    effects = [float(f.get("effect", 0.0)) for f in shown][::-1]
    colors = ["#c0392b" if f.get("drifted") else "#2e86c1" for f in shown][::-1]
    ax.barh(names, effects, color=colors)
    for i, f in enumerate(shown[::-1]):
        if f.get("threshold") is not None:
            ax.plot([f["threshold"]] * 2, [i - 0.4, i + 0.4], color="black", linewidth=1)
    ax.set_xlabel("effect size (bar) and threshold (tick)")
    ax.set_title("Drift per feature")
    return _png(fig)


def evaluation_images(evaluation: dict[str, Any]) -> dict[str, bytes]:
    """The evaluation's pictures by name (file stem): classifier curves or regression residuals."""
    images: dict[str, bytes] = {}
    if evaluation.get("confusion"):
        images["confusion_matrix"] = confusion_matrix_png(
            evaluation["confusion"]["classes"], evaluation["confusion"]["matrix"]
        )
    if evaluation.get("roc"):
        images["roc_curve"] = roc_png(evaluation["roc"])
    if evaluation.get("pr"):
        images["pr_curve"] = pr_png(evaluation["pr"])
    res = evaluation.get("residuals")
    if res and res.get("y_true"):
        images["residuals"] = residuals_png(res["y_true"], res["y_pred"])
        images["residual_histogram"] = residual_hist_png(res["y_true"], res["y_pred"])
        images["predicted_vs_true"] = predicted_vs_true_png(res["y_true"], res["y_pred"])
    return images
