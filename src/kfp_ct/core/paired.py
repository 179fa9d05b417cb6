"""Paired tests of a challenger against a champion scored on the same rows.

Every test here is one-sided, of H0: delta <= margin, where delta is the oriented difference
challenger - champion (> 0 is better) and margin is the smallest improvement that counts. Each
returns the interval that the test itself uses: its lower end is the one-sided (1 - alpha)
confidence bound, and `p < alpha` holds exactly when that bound is above the margin; the upper
end is the matching (1 - alpha) upper bound, so [low, high] is a two-sided 1 - 2*alpha interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

MAX_CELLS = 2_000_000  # bootstrap counts held in memory at once (resamples x rows)


@dataclass(frozen=True)
class PairedTest:
    """A paired test of H0: delta <= margin (delta = challenger - champion, > 0 is better).

    Attributes:
        method: the test's name.
        delta: the observed oriented difference.
        ci_low: one-sided (1 - alpha) lower confidence bound of delta: the test rejects H0
            (p < alpha) exactly when it is above `margin`.
        ci_high: the matching (1 - alpha) upper bound; [ci_low, ci_high] covers 1 - 2*alpha.
        p_value: one-sided p-value of H0: delta <= margin.
        margin: the improvement the test requires.
        confidence: coverage of [ci_low, ci_high] (1 - 2*alpha).
    """

    method: str
    delta: float
    ci_low: float
    ci_high: float
    p_value: float
    margin: float = 0.0
    confidence: float = 0.9


def mcnemar(challenger_correct: np.ndarray, champion_correct: np.ndarray, margin: float = 0.0) -> float:
    """One-sided exact McNemar p-value of H0: accuracy gain <= `margin` (given the discordant rows)."""
    return mcnemar_test(challenger_correct, champion_correct, 0.05, margin)[2]


def mcnemar_test(
    challenger_correct: np.ndarray, champion_correct: np.ndarray, alpha: float, margin: float = 0.0
) -> tuple[float, float, float]:
    """Exact McNemar test of H0: accuracy gain <= `margin`; return (low, high, p).

    Conditional on the d rows where exactly one model is right, the challenger is right on
    b ~ Binomial(d, pi) of them and the gain is d * (2 * pi - 1) / rows. The p-value is the exact
    binomial tail at the pi that H0's boundary gives; the bounds are Clopper-Pearson bounds of pi
    mapped onto the gain, so p < alpha exactly when `low` > `margin`.
    """
    rows = len(challenger_correct)
    b = int(np.sum(challenger_correct & ~champion_correct))
    c = int(np.sum(~challenger_correct & champion_correct))
    d = b + c
    if d == 0:
        return 0.0, 0.0, 1.0
    pi0 = (margin * rows / d + 1) / 2
    p = 1.0 if pi0 >= 1 else float(sps.binomtest(b, d, max(pi0, 0.0), alternative="greater").pvalue)
    pi_low = float(sps.beta.ppf(alpha, b, d - b + 1)) if b > 0 else 0.0
    pi_high = float(sps.beta.ppf(1 - alpha, b + 1, d - b)) if b < d else 1.0
    return d * (2 * pi_low - 1) / rows, d * (2 * pi_high - 1) / rows, p


def bootstrap_counts(n_rows: int, n_resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Bootstrap resamples of `n_rows` rows as counts[b, i] (how often row i is drawn), in batches."""
    rng = np.random.default_rng(seed)
    per_batch = max(1, MAX_CELLS // max(n_rows, 1))
    for start in range(0, n_resamples, per_batch):
        size = min(per_batch, n_resamples - start)
        idx = rng.integers(0, n_rows, (size, n_rows))
        flat = (idx + np.arange(size)[:, None] * n_rows).ravel()
        yield np.bincount(flat, minlength=size * n_rows).reshape(size, n_rows).astype(np.int32)


def rows_of(counts: np.ndarray) -> np.ndarray:
    """The row indices of one resample given as counts."""
    return np.repeat(np.arange(len(counts)), counts)


def paired_bootstrap(
    values: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    n_rows: int,
    n_resamples: int,
    seed: int,
    sign: float,
) -> np.ndarray:
    """Bootstrap the oriented difference on shared resamples; return the finite deltas.

    `values(counts)` returns (challenger, champion) metric values for a batch of resamples given
    as counts; `sign` is +1 when higher is better and -1 when lower is better.
    """
    deltas = [sign * np.subtract(*values(counts)) for counts in bootstrap_counts(n_rows, n_resamples, seed)]
    out = np.concatenate(deltas) if deltas else np.empty(0)
    return out[np.isfinite(out)]


def bootstrap_test(deltas: np.ndarray, alpha: float, margin: float) -> tuple[float, float, float]:
    """(low, high, p) of H0: delta <= margin from bootstrap deltas.

    p = (#{deltas <= margin} + 1) / (B + 1). `low` is the order statistic for which p < alpha
    exactly when low > margin (about the alpha quantile); `high` is its mirror image.
    """
    d = np.sort(deltas[np.isfinite(deltas)])
    size = d.size
    if size == 0:
        return float("nan"), float("nan"), 1.0
    p = float((np.sum(d <= margin) + 1) / (size + 1))
    # p < alpha  <=>  #{d <= margin} <= k  <=>  d[k] > margin (sorted, 0-based)
    k = math.ceil(alpha * (size + 1) - 1) - 1
    if k < 0:
        return float("-inf"), float("inf"), p
    return float(d[k]), float(d[size - 1 - k]), p
