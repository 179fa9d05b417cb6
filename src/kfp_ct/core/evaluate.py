"""Evaluate a fitted model on the held-out split: metrics, curves, per-class report, latency."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from kfp_ct.core import metrics
from kfp_ct.core.tasks import BINARY, is_classification


@dataclass
class Evaluation:
    """Everything `evaluate` reports."""

    task: str
    metrics: dict[str, float]  # by name, plus `n_rows`: the held-out rows behind them
    rows: int
    latency_ms: dict[str, float]
    confusion: list[list[int]] | None = None
    classes: list[str] | None = None
    roc: dict[str, list[float]] | None = None  # fpr, tpr, thresholds (binary)
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)
    scored: metrics.Scored | None = field(default=None, repr=False)  # the predictions behind it all

    def to_markdown(self) -> str:
        """A report for the Kubeflow UI and MLflow."""
        lines = [
            f"# Evaluation ({self.task}, {self.rows} held-out rows)",
            "",
            "| metric | value |",
            "|---|---|",
        ]
        lines += [f"| {k} | {v:.4f} |" for k, v in self.metrics.items() if k != metrics.ROWS]
        lines += [f"| latency {k} (ms, single row) | {v:.3f} |" for k, v in self.latency_ms.items()]
        if self.per_class:
            lines += ["", "| class | precision | recall | f1 | support |", "|---|---|---|---|---|"]
            for cls, row in self.per_class.items():
                lines.append(
                    f"| {cls} | {row['precision']:.3f} | {row['recall']:.3f} | "
                    f"{row['f1-score']:.3f} | {int(row['support'])} |"
                )
        return "\n".join(lines)


def predict_latency_ms(model, frame: pd.DataFrame, repeats: int = 200) -> dict[str, float]:
    """p50/p99 of single-row `Pipeline.predict` calls on rows of `frame`, in milliseconds."""
    rows = [frame.iloc[[i % len(frame)]] for i in range(min(repeats, max(len(frame), 1)) or 1)]
    return call_latency_ms(model.predict, rows)


def call_latency_ms(call: Callable[[Any], Any], inputs: Sequence[Any]) -> dict[str, float]:
    """p50/p99 in milliseconds of `call(x)` for each of `inputs` (after one warm-up call).

    Measured single-threaded, as the model server scores small requests: OpenMP threads cost
    more than one row's work, and on a busy machine their spin-waits inflate the figure tenfold.
    """
    from kfp_ct.core.device import cpu_threads

    times = []
    with cpu_threads(1):
        call(inputs[0])  # warm-up
        for item in inputs:
            start = time.perf_counter()
            call(item)
            times.append((time.perf_counter() - start) * 1000)
    return {"p50": float(np.percentile(times, 50)), "p99": float(np.percentile(times, 99))}


def evaluate_model(
    model,
    test: pd.DataFrame,
    features: list[str],
    label: str,
    task: str,
    latency_ms: dict[str, float] | None = None,
) -> Evaluation:
    """Score `model` on `test` and collect metrics, curves and latency.

    `latency_ms` is the caller's measurement (e.g. on the server's own path); None measures
    single-row `Pipeline.predict` calls.
    """
    x, y = test[features], test[label].to_numpy()
    scored = metrics.score(model, x, y)
    result = Evaluation(
        task=task,
        # n_rows travels with the metrics to the version's tags: the decay check needs the rows
        # behind a recorded value to know its sampling error.
        metrics={**metrics.compute_all(task, scored), metrics.ROWS: float(len(test))},
        rows=len(test),
        latency_ms=latency_ms if latency_ms is not None else predict_latency_ms(model, x),
        scored=scored,
    )
    if is_classification(task):
        classes = list(scored.classes)
        result.classes = [str(c) for c in classes]
        result.confusion = skm.confusion_matrix(y, scored.y_pred, labels=classes).tolist()
        report = skm.classification_report(
            y, scored.y_pred, labels=classes, output_dict=True, zero_division=0
        )
        result.per_class = {str(c): report[str(c)] for c in classes if str(c) in report}
        if task == BINARY and len(np.unique(y)) == 2:
            fpr, tpr, thr = skm.roc_curve(y == classes[1], scored.proba[:, 1])
            keep = _thin(len(fpr), 200)
            result.roc = {
                "fpr": fpr[keep].tolist(),
                "tpr": tpr[keep].tolist(),
                "thresholds": np.nan_to_num(thr[keep], posinf=1.0).tolist(),
            }
    return result


def _thin(n: int, limit: int) -> np.ndarray:
    """At most `limit` indices spread over range(n), keeping both ends (small UI artifacts)."""
    if n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(int))
