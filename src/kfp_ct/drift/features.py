"""Per-feature drift: the evidence of one column, then its verdict once the family is judged.

A column's checks (each a test of H0: effect <= threshold, see `kfp_ct.drift.evidence`):

- its distribution: KS statistic (numeric), total variation (categorical; rare categories
  merged), or the scaled Wasserstein distance or PSI when configured;
- new categories (categorical): the share of the window on categories the reference lacks,
  beyond what the reference's own unseen mass predicts with no change (Good-Turing);
- missing values (when either side has some): the growth of the missing share.

The column's p-value is the smallest of its checks' p-values times their number (Bonferroni);
`kfp_ct.drift.report` then runs Holm's procedure over all columns and the champion checks.
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from kfp_ct.drift import stats
from kfp_ct.drift.config import DriftConfig
from kfp_ct.drift.evidence import Check, DrawnError, KolmogorovError, NormalError, combined_p

Kind = Literal["numeric", "categorical"]
MAX_LISTED_CATEGORIES = 20
EFFECT_NAMES = {
    "ks": "KS D",
    "tv": "total variation",
    "psi": "PSI",
    "wasserstein": "Wasserstein/std",
}


@dataclass(frozen=True)
class FeatureDrift:
    """Drift test result for one column.

    Attributes:
        feature: column name.
        kind: ``numeric`` or ``categorical``.
        test: ``ks``, ``wasserstein``, ``tv`` or ``psi``.
        statistic: the test statistic (equal to ``effect_size``).
        p_value: p-value of "no change at all" from the same test (small at large n even for
            immaterial changes: it does not decide).
        effect: name of the effect compared with a threshold (``ks``, ``wasserstein``, ``tv``,
            ``psi``).
        effect_size: its point estimate.
        threshold: the smallest effect that counts as drift.
        drifted: whether the column counts as drifted (its adjusted p-value <= alpha).
        reason: one line saying why (or why not).
        effect_low: lower confidence bound of the effect, at the level this column was judged.
        p_material: p-value of H0 "every change in this column is at or below its threshold".
        p_adjusted: ``p_material`` adjusted by Holm's procedure over the whole decision.
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
    effect_low: float = 0.0
    p_material: float = 1.0
    p_adjusted: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict (non-finite floats become None)."""
        return {k: _json_float(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class FeatureEvidence:
    """A column's checks before the family is judged."""

    feature: str
    kind: Kind
    test: str
    checks: list[Check]  # the distribution check first
    n_reference: int
    n_current: int
    missing_reference: float
    missing_current: float
    new_categories: list[str] = field(default_factory=list)
    new_category_share: float = 0.0

    @property
    def p_material(self) -> float:
        """The column's p-value: Bonferroni over its checks."""
        return combined_p(self.checks)

    def judge(self, level: float, p_adjusted: float, alpha: float) -> FeatureDrift:
        """The verdict, given the level Holm's procedure judged this column at."""
        main = self.checks[0]
        each = level / len(self.checks)  # Bonferroni share of each check
        drifted = p_adjusted <= alpha
        parts = [
            f"{EFFECT_NAMES[main.name]}={main.estimate:.3f} (lower bound "
            f"{max(main.lower(each), 0.0):.3f}, threshold {main.threshold:g}), "
            f"p(no change)={_fmt_p(main.p_change)}"
        ]
        for check in self.checks[1:]:
            bound = f"lower bound {check.lower(each):+.1%}, threshold {check.threshold:.0%}"
            if check.name == "new categories" and self.new_categories:
                n, listed = len(self.new_categories), self.new_categories[:MAX_LISTED_CATEGORIES]
                expected = self.new_category_share - check.estimate
                parts.append(
                    f"{n} new categor{'y' if n == 1 else 'ies'} {listed} = {self.new_category_share:.1%} "
                    f"of the window, {check.estimate:+.1%} beyond the {expected:.1%} a reference sample "
                    f"this size misses by chance ({bound})"
                )
            elif check.name == "missing share":
                shares = f"{self.missing_reference:.1%} -> {self.missing_current:.1%}"
                parts.append(f"missing share {shares} (growth {bound})")
        fired = [c.name for c in self.checks if c.p_value <= each]
        verdict = f"drifted ({', '.join(fired)})" if drifted else "not drifted"
        parts.append(f"{verdict}: adjusted p={_fmt_p(p_adjusted)} vs alpha {alpha:g}")
        return FeatureDrift(
            feature=self.feature,
            kind=self.kind,
            test=self.test,
            statistic=main.estimate,
            p_value=main.p_change,
            effect=self.test,
            effect_size=main.estimate,
            threshold=main.threshold,
            drifted=drifted,
            reason="; ".join(parts),
            n_reference=self.n_reference,
            n_current=self.n_current,
            missing_reference=self.missing_reference,
            missing_current=self.missing_current,
            new_categories=self.new_categories[:MAX_LISTED_CATEGORIES],
            new_category_share=self.new_category_share,
            effect_low=max(main.lower(each), 0.0),
            p_material=self.p_material,
            p_adjusted=p_adjusted,
        )


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


def _seed(name: str, config: DriftConfig) -> int:
    return (zlib.crc32(name.encode()) + config.seed) % 2**32


def _missing_check(
    n_ref: int, n_cur: int, miss_ref: float, miss_cur: float, config: DriftConfig
) -> list[Check]:
    """A test that the missing share grew by more than the threshold (only if any are missing)."""
    if miss_ref == 0 and miss_cur == 0:
        return []
    se = np.sqrt(miss_ref * (1 - miss_ref) / max(n_ref, 1) + miss_cur * (1 - miss_cur) / max(n_cur, 1))
    return [Check("missing share", miss_cur - miss_ref, config.missing_threshold, NormalError(float(se)))]


def numeric_evidence(
    name: str, reference: pd.Series, current: pd.Series, config: DriftConfig
) -> FeatureEvidence:
    """Checks of one numeric column with the configured test (KS or scaled Wasserstein)."""
    ref, cur = stats.finite_values(reference), stats.finite_values(current)
    miss_ref = 1 - len(ref) / max(len(reference), 1)
    miss_cur = 1 - len(cur) / max(len(current), 1)
    if config.numeric_test == "ks":
        d, _ = stats.ks_two_sample(ref, cur)
        main = Check("ks", d, config.min_effect, KolmogorovError(stats.ks_rows(len(ref), len(cur))))
    else:
        w = stats.wasserstein_normed(ref, cur)
        draws = stats.wasserstein_draws(ref, cur, config.n_permutations, _seed(name, config))
        main = Check("wasserstein", w, config.wasserstein_threshold, DrawnError(draws))
    checks = [main, *_missing_check(len(reference), len(current), miss_ref, miss_cur, config)]
    return FeatureEvidence(
        name, "numeric", config.numeric_test, checks, len(ref), len(cur), miss_ref, miss_cur
    )


def categorical_evidence(
    name: str, reference: pd.Series, current: pd.Series, config: DriftConfig
) -> FeatureEvidence:
    """Checks of one categorical column: total variation (or PSI), new categories, missing share."""
    categories, ref_counts, cur_counts = stats.category_counts(reference, current)
    n_ref, n_cur = int(ref_counts.sum()), int(cur_counts.sum())
    miss_ref = 1 - n_ref / max(len(reference), 1)
    miss_cur = 1 - n_cur / max(len(current), 1)
    ref_binned, cur_binned = stats.lump_rare(ref_counts, cur_counts)
    if config.categorical_test == "tv":
        value, rows, threshold = (
            stats.total_variation(ref_binned, cur_binned),
            stats.tv_rows,
            config.min_effect,
        )
    else:
        value, rows, threshold = stats.psi(ref_binned, cur_binned), stats.psi_rows, config.psi_threshold
    if n_ref and n_cur and len(ref_binned) > 1:
        n_draws = int(np.clip(stats.MAX_DRAW_CELLS // len(ref_binned), 199, config.n_permutations))
        draws = stats.permutation_draws(ref_binned, cur_binned, rows, n_draws, _seed(name, config))
    else:
        draws = np.zeros(1)  # one category or an empty side: no evidence of change
    checks = [Check(config.categorical_test, value, threshold, DrawnError(draws))]
    new_mask = (ref_counts == 0) & (cur_counts > 0)
    observed, expected, se = stats.unseen_share(ref_counts, cur_counts)
    if config.new_category_share is not None:
        checks.append(
            Check("new categories", observed - expected, config.new_category_share, NormalError(se))
        )
    checks += _missing_check(len(reference), len(current), miss_ref, miss_cur, config)
    return FeatureEvidence(
        feature=name,
        kind="categorical",
        test=config.categorical_test,
        checks=checks,
        n_reference=n_ref,
        n_current=n_cur,
        missing_reference=miss_ref,
        missing_current=miss_cur,
        new_categories=[str(c) for c, m in zip(categories, new_mask, strict=True) if m],
        new_category_share=observed,
    )


def feature_evidence(
    name: str, reference: pd.Series, current: pd.Series, kind: Kind, config: DriftConfig
) -> FeatureEvidence:
    """Checks of one column with the family given by ``kind``."""
    if kind == "numeric":
        return numeric_evidence(name, reference, current, config)
    return categorical_evidence(name, reference, current, config)


def feature_drift(
    name: str, reference: pd.Series, current: pd.Series, kind: Kind, config: DriftConfig
) -> FeatureDrift:
    """Test one column alone (a family of one: its own checks, alpha unshared)."""
    evidence = feature_evidence(name, reference, current, kind, config)
    p = evidence.p_material
    return evidence.judge(config.alpha, p, config.alpha)
