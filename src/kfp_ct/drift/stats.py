"""Vectorised two-sample statistics for drift detection (numpy and scipy only).

Every function takes the reference sample first and the current sample second, works on whole
arrays (sort once, ``searchsorted`` on sorted needles) and never loops over rows in Python.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as _st

PSI_EPSILON = 1e-4


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
    en = n1 * n2 / (n1 + n2)
    p_value = float(np.clip(_st.kstwo.sf(d, np.round(en)), 0.0, 1.0))
    return d, p_value


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
