"""Vectorised two-sample statistics for drift detection (numpy and scipy only).

Every function takes the reference sample first and the current sample second, works on whole
arrays (sort once, merge sorted runs, count categories) and never loops over rows in Python.
Besides each statistic, the null draws that its tests need: permutations of the pooled counts
(categorical) or of a subsample's labels (Wasserstein), and the Good-Turing estimate of the share
of a window that falls on categories the reference has not seen, with no change at all.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import stats as _st

PSI_EPSILON = 1e-4
RARE_COUNT = 5  # categories seen fewer times than this on both sides together share one bin
MAX_DRAW_CELLS = 2_000_000  # permutation draws x categories (or rows) held in memory at once


def finite_values(series: pd.Series) -> np.ndarray:
    """Return the finite values of a numeric column as a float64 array (NaN and inf dropped)."""
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    return values[np.isfinite(values)]


def ks_two_sample(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov test, two-sided, asymptotic p-value.

    Same statistic and p-value as ``scipy.stats.ks_2samp(..., method="asymp")``. Each sample is
    sorted once; the two sorted runs are merged in linear time (a stable sort of two runs) and the
    CDF gap is accumulated in exact integer steps (``n2`` up per reference point, ``n1`` down per
    current point), read only after the last of each group of tied values.

    Args:
        reference: reference sample (1-D, finite).
        current: current sample (1-D, finite).

    Returns:
        ``(statistic, p_value)``; ``(0.0, 1.0)`` when either sample is empty.
    """
    n1, n2 = len(reference), len(current)
    if n1 == 0 or n2 == 0:
        return 0.0, 1.0
    merged = np.concatenate([np.sort(reference), np.sort(current)])
    order = np.argsort(merged, kind="stable")  # merging two sorted runs: linear time
    values = merged[order]
    gap = np.cumsum(np.where(order < n1, n2, -n1))  # n1 * n2 * (F_ref - F_cur), exact
    last = np.empty(len(values), dtype=bool)  # the last point of each run of tied values
    np.not_equal(values[1:], values[:-1], out=last[:-1])
    last[-1] = True
    d = float(np.max(np.abs(gap[last]))) / (n1 * n2)
    p_value = float(np.clip(_st.kstwo.sf(d, ks_rows(n1, n2)), 0.0, 1.0))
    return d, p_value


def ks_rows(n1: int, n2: int) -> int:
    """The effective sample size ``n1 * n2 / (n1 + n2)`` (rounded, >= 1) of the KS distribution."""
    return max(1, round(n1 * n2 / (n1 + n2))) if n1 and n2 else 0


def wasserstein_normed(reference: np.ndarray, current: np.ndarray) -> float:
    """First Wasserstein distance divided by the reference standard deviation.

    Equal to ``scipy.stats.wasserstein_distance(reference, current) / reference.std()``; a
    constant reference is scaled by 1 instead. Computed with one O(n) merge of the sorted samples.

    Args:
        reference: reference sample (1-D, finite).
        current: current sample (1-D, finite).

    Returns:
        The scaled distance; 0.0 when either sample is empty.
    """
    n1, n2 = len(reference), len(current)
    if n1 == 0 or n2 == 0:
        return 0.0
    merged = np.concatenate([np.sort(reference), np.sort(current)])
    order = np.argsort(merged, kind="stable")  # merging two sorted runs: linear time
    values = merged[order]
    # F_ref - F_cur just after each point, then integrate |.| over the gaps between points.
    cdf_diff = np.cumsum(np.where(order < n1, 1.0 / n1, -1.0 / n2))
    distance = float(np.sum(np.abs(cdf_diff[:-1]) * np.diff(values)))
    scale = float(np.std(reference))
    return distance / scale if scale > 0 else distance


def category_counts(reference: pd.Series, current: pd.Series) -> tuple[list[object], np.ndarray, np.ndarray]:
    """Count categories of two columns on one aligned axis (union of categories, NaN dropped).

    Args:
        reference: reference column.
        current: current column.

    Returns:
        ``(categories, reference_counts, current_counts)``; counts are float64 arrays aligned
        with ``categories``. Categories absent from one side count 0 there.
    """
    ref_counts = reference.value_counts(dropna=True, sort=False)
    cur_counts = current.value_counts(dropna=True, sort=False)
    ref_counts = ref_counts[ref_counts > 0]
    cur_counts = cur_counts[cur_counts > 0]
    table = pd.concat([ref_counts, cur_counts], axis=1, keys=["ref", "cur"], sort=False)
    table = table.fillna(0.0)
    return (
        list(table.index),
        table["ref"].to_numpy(dtype=np.float64),
        table["cur"].to_numpy(dtype=np.float64),
    )


def chi2_homogeneity(reference_counts: np.ndarray, current_counts: np.ndarray) -> tuple[float, float, int]:
    """Chi-squared test that two samples share one categorical distribution (2 x k table).

    Same as ``scipy.stats.chi2_contingency([ref, cur], correction=False)``. A category seen only
    in the current window contributes to the statistic like any other difference.

    Args:
        reference_counts: counts per category in the reference.
        current_counts: counts per category in the current window (same order).

    Returns:
        ``(statistic, p_value, degrees_of_freedom)``; ``(0.0, 1.0, 0)`` for fewer than two
        categories or an empty side.
    """
    observed = np.vstack([reference_counts, current_counts]).astype(np.float64)
    observed = observed[:, observed.sum(axis=0) > 0]
    rows = observed.sum(axis=1, keepdims=True)
    dof = observed.shape[1] - 1
    if dof < 1 or np.any(rows == 0):
        return 0.0, 1.0, 0
    cols = observed.sum(axis=0, keepdims=True)
    expected = rows * cols / observed.sum()
    statistic = float(np.sum((observed - expected) ** 2 / expected))
    return statistic, float(_st.chi2.sf(statistic, dof)), dof


def psi(reference_counts: np.ndarray, current_counts: np.ndarray, epsilon: float = PSI_EPSILON) -> float:
    """Population stability index between two binned distributions.

    ``sum((q - p) * ln(q / p))`` over bins, with ``p`` the reference and ``q`` the current shares;
    empty bins get share ``epsilon`` so that new or vanished categories give a large, finite value.
    Common reading: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 significant shift.

    Args:
        reference_counts: counts per bin in the reference.
        current_counts: counts per bin in the current window (same order).
        epsilon: share given to empty bins.

    Returns:
        The index (>= 0); 0.0 when either side is empty.
    """
    ref_total, cur_total = reference_counts.sum(), current_counts.sum()
    if ref_total == 0 or cur_total == 0:
        return 0.0
    p = np.maximum(reference_counts / ref_total, epsilon)
    q = np.maximum(current_counts / cur_total, epsilon)
    return float(np.sum((q - p) * np.log(q / p)))


def total_variation(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """Total variation distance between two binned distributions: ``0.5 * sum(|p - q|)``.

    The largest difference, over all sets of categories, in the share of rows falling in the set:
    the same scale as the KS statistic (which takes the largest over sets ``values <= t``).

    Args:
        reference_counts: counts per bin in the reference.
        current_counts: counts per bin in the current window (same order).

    Returns:
        The distance in [0, 1]; 0.0 when either side is empty.
    """
    ref_total, cur_total = reference_counts.sum(), current_counts.sum()
    if ref_total == 0 or cur_total == 0:
        return 0.0
    return float(0.5 * np.sum(np.abs(reference_counts / ref_total - current_counts / cur_total)))


def lump_rare(
    reference_counts: np.ndarray, current_counts: np.ndarray, min_count: int = RARE_COUNT
) -> tuple[np.ndarray, np.ndarray]:
    """Merge categories seen fewer than ``min_count`` times on both sides together into one bin.

    Rare categories carry sampling noise and little signal: merged, a long-tailed column's
    distance measures its frequent categories. (New categories have a test of their own.)
    """
    rare = (reference_counts + current_counts) < min_count
    if rare.sum() <= 1:
        return reference_counts, current_counts
    keep = ~rare
    return (
        np.append(reference_counts[keep], reference_counts[rare].sum()),
        np.append(current_counts[keep], current_counts[rare].sum()),
    )


def permutation_draws(
    reference_counts: np.ndarray,
    current_counts: np.ndarray,
    statistic: Callable[[np.ndarray, np.ndarray], np.ndarray],
    n_draws: int,
    seed: int,
) -> np.ndarray:
    """The statistic on ``n_draws`` random splits of the pooled rows into sides of the same sizes.

    Under "no change" both sides are random draws from the pooled rows, so each side's counts
    follow a multivariate hypergeometric law: these are the exact permutation draws, made on
    counts (cheap for any number of rows).

    Args:
        reference_counts: counts per category in the reference.
        current_counts: counts per category in the current window.
        statistic: vectorised statistic of (reference counts [draws, k], current counts [draws, k]).
        n_draws: number of draws (fewer when there are many categories, to bound memory).
        seed: random seed.

    Returns:
        The statistic of each draw.
    """
    pooled = (reference_counts + current_counts).astype(np.int64)
    n_ref = int(reference_counts.sum())
    rng = np.random.default_rng(seed)
    per_batch = max(1, MAX_DRAW_CELLS // max(len(pooled), 1))
    out = []
    for start in range(0, n_draws, per_batch):
        ref = rng.multivariate_hypergeometric(pooled, n_ref, size=min(per_batch, n_draws - start))
        out.append(statistic(ref.astype(np.float64), (pooled - ref).astype(np.float64)))
    return np.concatenate(out)


def tv_rows(reference_counts: np.ndarray, current_counts: np.ndarray) -> np.ndarray:
    """Total variation of each row of two [draws, k] count arrays."""
    p = reference_counts / reference_counts.sum(axis=1, keepdims=True)
    q = current_counts / current_counts.sum(axis=1, keepdims=True)
    return 0.5 * np.abs(p - q).sum(axis=1)


def psi_rows(reference_counts: np.ndarray, current_counts: np.ndarray) -> np.ndarray:
    """PSI of each row of two [draws, k] count arrays (same epsilon as `psi`)."""
    p = np.maximum(reference_counts / reference_counts.sum(axis=1, keepdims=True), PSI_EPSILON)
    q = np.maximum(current_counts / current_counts.sum(axis=1, keepdims=True), PSI_EPSILON)
    return np.sum((q - p) * np.log(q / p), axis=1)


def wasserstein_draws(
    reference: np.ndarray, current: np.ndarray, n_draws: int, seed: int, max_rows: int = 2000
) -> np.ndarray:
    """Permutation draws of `wasserstein_normed` under "no change", scaled to the full sizes.

    Labels of a subsample of at most ``max_rows`` rows per side are shuffled; under no change
    the distance shrinks as sqrt(1/n1 + 1/n2), so the subsample's draws are rescaled to the
    full sample sizes. Scaled by the full reference standard deviation, like the statistic.
    """
    n1, n2 = len(reference), len(current)
    if n1 == 0 or n2 == 0:
        return np.zeros(max(n_draws, 1))
    rng = np.random.default_rng(seed)
    ref = reference if n1 <= max_rows else rng.choice(reference, max_rows, replace=False)
    cur = current if n2 <= max_rows else rng.choice(current, max_rows, replace=False)
    m1, m2 = len(ref), len(cur)
    values = np.sort(np.concatenate([ref, cur]))
    gaps = np.diff(values)
    labels = np.r_[np.ones(m1), np.zeros(m2)]
    per_batch = max(1, MAX_DRAW_CELLS // len(values))
    out = []
    for start in range(0, n_draws, per_batch):
        size = min(per_batch, n_draws - start)
        is_ref = rng.permuted(np.tile(labels, (size, 1)), axis=1)
        cdf_diff = np.cumsum(is_ref / m1 - (1.0 - is_ref) / m2, axis=1)
        out.append(np.abs(cdf_diff[:, :-1]) @ gaps)
    scale = float(np.std(reference))
    shrink = np.sqrt((1 / n1 + 1 / n2) / (1 / m1 + 1 / m2))
    return np.concatenate(out) * shrink / (scale if scale > 0 else 1.0)


def unseen_share(reference_counts: np.ndarray, current_counts: np.ndarray) -> tuple[float, float, float]:
    """Share of the window on categories absent from the reference, and what no change predicts.

    With no change at all, the share of new rows that fall on categories the reference sample
    missed is its missing mass, which the Good-Turing estimate gives: (categories seen once in
    the reference) / (reference rows). A long-tailed column has a large missing mass at small n.

    Returns:
        ``(observed share, expected share, standard error of their difference)``; the error
        counts the window's binomial noise and the estimate's own variance (f1 + 2 f2) / n^2.
    """
    n_ref, n_cur = float(reference_counts.sum()), float(current_counts.sum())
    if n_ref == 0 or n_cur == 0:
        return 0.0, 0.0, 0.0
    observed = float(current_counts[reference_counts == 0].sum() / n_cur)
    f1, f2 = float(np.sum(reference_counts == 1)), float(np.sum(reference_counts == 2))
    expected = f1 / n_ref
    share = min(max(observed, expected), 1.0)
    se = float(np.sqrt(share * (1 - share) / n_cur + (f1 + 2 * f2) / n_ref**2))
    return observed, expected, se
