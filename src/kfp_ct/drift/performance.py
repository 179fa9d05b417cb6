"""Performance decay: a test that the champion got worse on the window than its recorded value.

Both values come from `kfp_ct.core.metrics` (the one implementation), and both are estimates:
the recorded one from the held-out rows at registration (`n_rows` of them), the current one from
the window's labelled rows. For each recorded metric the check tests

    H0: worsening <= tolerance * |recorded|      (worsening = recorded - current, oriented)

with a normal error whose variance is the window's squared standard error plus the recorded
value's, the latter scaled from the window's by rows: se_recorded = se_window *
sqrt(window rows / recorded rows) (under H0 both sets of rows come from one distribution).
When the recorded row count is unknown, only the window's error is counted, and the reason says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from kfp_ct.core import metrics
from kfp_ct.drift.evidence import Check, NormalError, holm


@dataclass(frozen=True)
class MetricDecay:
    """One metric compared with its recorded value.

    Attributes:
        name: the recorded name (e.g. ``roc_auc`` or ``test_roc_auc``).
        recorded: the recorded value.
        current: the value on the labelled window.
        relative_change: signed change relative to the recorded value (negative = worse).
        decayed: whether the worsening beyond the tolerance is significant (Holm-adjusted).
        worsening_low: lower confidence bound of the relative worsening (positive = worse).
        se: standard error of the difference (window and recorded together).
        p_value: one-sided p-value of H0 "worsening <= tolerance".
        p_adjusted: that p-value adjusted by Holm's procedure over the whole decision.
    """

    name: str
    recorded: float
    current: float
    relative_change: float
    decayed: bool
    worsening_low: float = 0.0
    se: float = 0.0
    p_value: float = 1.0
    p_adjusted: float = 1.0


@dataclass(frozen=True)
class PerformanceDecay:
    """Champion metrics on the labelled window compared with the recorded ones."""

    tolerance: float
    n_labelled: int
    metrics: list[MetricDecay] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # recorded names we cannot compute
    n_recorded: int | None = None  # rows behind the recorded values (None: unknown)

    @property
    def decayed(self) -> bool:
        """Whether any compared metric got significantly worse than the tolerance allows."""
        return any(m.decayed for m in self.metrics)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        out = asdict(self)
        out["decayed"] = self.decayed
        return out


@dataclass(frozen=True)
class MetricEvidence:
    """One metric's decay check before the family is judged."""

    name: str
    recorded: float
    current: float
    check: Check  # effect: relative worsening; threshold: the tolerance
    se: float  # standard error of the difference, in metric units

    def judge(self, level: float, p_adjusted: float, alpha: float) -> MetricDecay:
        """The verdict at the level Holm's procedure judged this metric at."""
        return MetricDecay(
            name=self.name,
            recorded=self.recorded,
            current=self.current,
            relative_change=-self.check.estimate,
            decayed=p_adjusted <= alpha,
            worsening_low=self.check.lower(level),
            se=self.se,
            p_value=self.check.p_value,
            p_adjusted=p_adjusted,
        )


def recorded_rows(recorded: Mapping[str, float]) -> int | None:
    """The row count recorded beside the metrics (`n_rows`, any split prefix), or None."""
    for name, value in recorded.items():
        if metrics.canonical(name) == metrics.ROWS and math.isfinite(float(value)) and value >= 1:
            return int(value)
    return None


def decay_evidence(
    scored: metrics.Scored, task: str, recorded: Mapping[str, float], tolerance: float, seed: int = 0
) -> tuple[list[MetricEvidence], list[str], int | None]:
    """Build the decay check of each recorded metric; return (checks, skipped names, recorded rows)."""
    n_recorded = recorded_rows(recorded)
    n_window = len(scored.y_true)
    checks: list[MetricEvidence] = []
    skipped: list[str] = []
    for name, value in recorded.items():
        canon = metrics.canonical(name)
        if canon == metrics.ROWS:
            continue
        if canon not in metrics.metric_names(task) or not math.isfinite(float(value)):
            skipped.append(name)
            continue
        current = metrics.compute(canon, task, scored)
        se_window = metrics.standard_error(canon, task, scored, seed=seed)
        if not math.isfinite(current) or not math.isfinite(se_window):
            skipped.append(name)
            continue
        value = float(value)
        se_recorded = se_window * math.sqrt(n_window / n_recorded) if n_recorded else 0.0
        scale = abs(value) if value != 0 else 1.0
        sign = 1.0 if metrics.higher_is_better(canon) else -1.0
        worsening = sign * (value - current) / scale
        se = math.hypot(se_window, se_recorded)
        check = Check(name, worsening, tolerance, NormalError(se / scale))
        checks.append(MetricEvidence(name, value, current, check, se))
    return checks, skipped, n_recorded


def performance_decay(
    scored: metrics.Scored,
    task: str,
    recorded: Mapping[str, float],
    tolerance: float,
    alpha: float = 0.05,
    seed: int = 0,
) -> PerformanceDecay:
    """Test each recorded metric for decay on the window (Holm over the metrics alone).

    Args:
        scored: the champion's predictions on the labelled window rows.
        task: ``binary``, ``multiclass`` or ``regression``.
        recorded: the champion's recorded metrics, e.g. ``{"roc_auc": 0.91, "n_rows": 600}``.
        tolerance: allowed relative worsening, e.g. 0.05 for 5 %.
        alpha: family-wise error rate over the metrics.
        seed: random seed of bootstrap standard errors.

    Returns:
        The comparison; names that cannot be computed are listed in ``skipped``.
    """
    checks, skipped, n_recorded = decay_evidence(scored, task, recorded, tolerance, seed)
    result = holm([c.check.p_value for c in checks], alpha)
    judged = [
        c.judge(level, p, alpha) for c, level, p in zip(checks, result.levels, result.adjusted, strict=True)
    ]
    return PerformanceDecay(tolerance, len(scored.y_true), judged, skipped, n_recorded)


def task_of(champion: Any, y_true: np.ndarray, proba: np.ndarray | None) -> str:
    """The champion's task: from its classes when it has them, else from the labels."""
    import pandas as pd

    from kfp_ct.core.tasks import BINARY, MULTICLASS, infer_task

    classes = getattr(champion, "classes_", None)
    if classes is not None and proba is not None:
        return BINARY if len(classes) == 2 else MULTICLASS
    return infer_task(pd.Series(y_true))
