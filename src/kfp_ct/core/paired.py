"""Paired tests of a challenger against a champion scored on the same rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps


@dataclass(frozen=True)
class PairedTest:
    """Result of a paired test on the difference challenger - champion (oriented: > 0 is better)."""

    method: str
    delta: float
    ci_low: float
    ci_high: float
    p_value: float


def mcnemar(challenger_correct: np.ndarray, champion_correct: np.ndarray) -> float:
    """One-sided exact McNemar p-value for 'challenger is more accurate'."""
    b = int(np.sum(challenger_correct & ~champion_correct))
    c = int(np.sum(~challenger_correct & champion_correct))
    if b + c == 0:
        return 1.0
    return float(sps.binomtest(b, b + c, 0.5, alternative="greater").pvalue)


def paired_bootstrap(
    metric: Callable[[np.ndarray], tuple[float, float]],
    n_rows: int,
    n_resamples: int,
    alpha: float,
    seed: int,
    sign: float,
) -> tuple[np.ndarray, float, float, float]:
    """Bootstrap the oriented difference; return (deltas, ci_low, ci_high, one-sided p).

    `metric(idx)` returns (challenger, champion) values on rows `idx`; `sign` is +1 when higher
    is better and -1 when lower is better, so positive deltas always mean 'challenger better'.
    """
    rng = np.random.default_rng(seed)
    deltas = np.empty(n_resamples)
    for i in range(n_resamples):
        idx = rng.integers(0, n_rows, n_rows)
        a, b = metric(idx)
        deltas[i] = sign * (a - b)
    deltas = deltas[np.isfinite(deltas)]
    if deltas.size == 0:
        return deltas, float("nan"), float("nan"), 1.0
    low, high = np.quantile(deltas, [alpha / 2, 1 - alpha / 2])
    p = float((np.sum(deltas <= 0) + 1) / (deltas.size + 1))
    return deltas, float(low), float(high), p


def paired_bootstrap_means(
    challenger_terms: np.ndarray,
    champion_terms: np.ndarray,
    n_resamples: int,
    alpha: float,
    seed: int,
    sign: float,
    transform: Callable[[np.ndarray], np.ndarray] = lambda m: m,
) -> tuple[float, float, float]:
    """Vectorised bootstrap for metrics that are `transform(mean of per-row terms)`."""
    rng = np.random.default_rng(seed)
    n = len(challenger_terms)
    idx = rng.integers(0, n, (n_resamples, n))
    a = transform(challenger_terms[idx].mean(axis=1))
    b = transform(champion_terms[idx].mean(axis=1))
    deltas = sign * (a - b)
    low, high = np.quantile(deltas, [alpha / 2, 1 - alpha / 2])
    p = float((np.sum(deltas <= 0) + 1) / (deltas.size + 1))
    return float(low), float(high), p
