"""Per-feature drift results, with the test chosen by the column's type."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from kfp_ct.drift import stats
from kfp_ct.drift.config import DriftConfig

Kind = Literal["numeric", "categorical"]
MAX_LISTED_CATEGORIES = 20


@dataclass(frozen=True)
class FeatureDrift:
    """Drift test result for one column.

    Attributes:
        feature: column name.
        kind: ``numeric`` or ``categorical``.
        test: ``ks``, ``wasserstein``, ``chi2`` or ``psi``.
        statistic: the test statistic.
        p_value: the test's p-value, or None for distance-only tests.
        effect: name of the effect size compared with a threshold (``ks``, ``wasserstein``,
            ``psi``).
        effect_size: its value.
        threshold: the effect-size threshold applied.
        drifted: whether the column counts as drifted.
        reason: one line saying why (or why not).
    """

    feature: str
    kind: Kind
    test: str
    statistic: float
    p_value: float | None
    effect: str
    effect_size: float
    threshold: float
    drifted: bool
    reason: str
    n_reference: int = 0
    n_current: int = 0
    missing_reference: float = 0.0
    missing_current: float = 0.0
    new_categories: list[str] = field(default_factory=list)
    new_category_share: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict (non-finite floats become None)."""
        return {k: _json_float(v) for k, v in asdict(self).items()}


def _json_float(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    return value


def infer_kind(series: pd.Series) -> Kind | None:
    """Return the test family for a column: numeric, categorical, or None (datetime: skipped)."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "categorical"
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        return None
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    return "categorical"


def _fmt_p(p: float | None) -> str:
    return "n/a" if p is None else f"{p:.2g}"


def numeric_drift(name: str, reference: pd.Series, current: pd.Series, config: DriftConfig) -> FeatureDrift:
    """Test one numeric column with the configured test (KS or scaled Wasserstein)."""
    ref, cur = stats.finite_values(reference), stats.finite_values(current)
    miss_ref = 1 - len(ref) / max(len(reference), 1)
    miss_cur = 1 - len(cur) / max(len(current), 1)
    if config.numeric_test == "ks":
        statistic, p_value = stats.ks_two_sample(ref, cur)
        effect, threshold = statistic, config.ks_threshold
        drifted = p_value < config.alpha and effect >= threshold
        why = f"KS D={effect:.3f} (threshold {threshold:g}), p={_fmt_p(p_value)}"
    else:
        statistic, p_value = stats.wasserstein_normed(ref, cur), None
        effect, threshold = statistic, config.wasserstein_threshold
        drifted = effect >= threshold
        why = f"Wasserstein/std={effect:.3f} (threshold {threshold:g})"
    drifted, why = _missing_rule(drifted, why, miss_ref, miss_cur, config)
    return FeatureDrift(
        feature=name,
        kind="numeric",
        test=config.numeric_test,
        statistic=statistic,
        p_value=p_value,
        effect=config.numeric_test,
        effect_size=effect,
        threshold=threshold,
        drifted=bool(drifted),
        reason=why,
        n_reference=len(ref),
        n_current=len(cur),
        missing_reference=miss_ref,
        missing_current=miss_cur,
    )


def categorical_drift(
    name: str, reference: pd.Series, current: pd.Series, config: DriftConfig
) -> FeatureDrift:
    """Test one categorical column: chi-squared on aligned counts and/or PSI, new categories."""
    categories, ref_counts, cur_counts = stats.category_counts(reference, current)
    n_ref, n_cur = int(ref_counts.sum()), int(cur_counts.sum())
    miss_ref = 1 - n_ref / max(len(reference), 1)
    miss_cur = 1 - n_cur / max(len(current), 1)
    psi_value = stats.psi(ref_counts, cur_counts)
    threshold = config.psi_threshold
    if config.categorical_test == "chi2":
        statistic, p_value, _ = stats.chi2_homogeneity(ref_counts, cur_counts)
        drifted = p_value < config.alpha and psi_value >= threshold
        why = f"chi2={statistic:.1f}, p={_fmt_p(p_value)}, "
        why += f"PSI={psi_value:.3f} (threshold {threshold:g})"
    else:
        statistic, p_value = psi_value, None
        drifted = psi_value >= threshold
        why = f"PSI={psi_value:.3f} (threshold {threshold:g})"
    new_mask = (ref_counts == 0) & (cur_counts > 0)
    new_share = float(cur_counts[new_mask].sum() / n_cur) if n_cur else 0.0
    new_names = [str(c) for c, m in zip(categories, new_mask, strict=True) if m]
    if new_names:
        listed = new_names[:MAX_LISTED_CATEGORIES]
        why += f"; {len(new_names)} new categor{'y' if len(new_names) == 1 else 'ies'} "
        why += f"{listed} = {new_share:.1%} of the window"
        if config.new_category_share is not None and new_share >= config.new_category_share:
            drifted = True
    drifted, why = _missing_rule(drifted, why, miss_ref, miss_cur, config)
    return FeatureDrift(
        feature=name,
        kind="categorical",
        test=config.categorical_test,
        statistic=statistic,
        p_value=p_value,
        effect="psi",
        effect_size=psi_value,
        threshold=threshold,
        drifted=bool(drifted),
        reason=why,
        n_reference=n_ref,
        n_current=n_cur,
        missing_reference=miss_ref,
        missing_current=miss_cur,
        new_categories=new_names[:MAX_LISTED_CATEGORIES],
        new_category_share=new_share,
    )


def _missing_rule(
    drifted: bool, why: str, miss_ref: float, miss_cur: float, config: DriftConfig
) -> tuple[bool, str]:
    if miss_cur - miss_ref >= config.missing_threshold and miss_cur > 0:
        return True, why + f"; missing share {miss_ref:.1%} -> {miss_cur:.1%}"
    return drifted, why


def feature_drift(
    name: str, reference: pd.Series, current: pd.Series, kind: Kind, config: DriftConfig
) -> FeatureDrift:
    """Test one column with the family given by ``kind``."""
    if kind == "numeric":
        return numeric_drift(name, reference, current, config)
    return categorical_drift(name, reference, current, config)
