"""Tests of "the change is immaterial": p-values, bounds that agree with them, and Holm's procedure."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from kfp_ct.drift import stats
from kfp_ct.drift.evidence import Check, DrawnError, KolmogorovError, NormalError, holm


def test_holm_matches_statsmodels():
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    rng = np.random.default_rng(0)
    for _ in range(20):
        p = list(np.r_[rng.random(6), rng.random(4) * 0.01])
        result = holm(p, 0.05)
        reject, adjusted, _, _ = multitest.multipletests(p, 0.05, method="holm")
        assert result.rejected == list(reject)
        assert result.adjusted == pytest.approx(list(adjusted))
        # each member's level: rejected ones at their step, the others where the procedure stopped
        for r, level, pi in zip(result.rejected, result.levels, p, strict=True):
            assert (pi <= level) == r


@pytest.mark.parametrize(
    "error",
    [KolmogorovError(400), DrawnError(np.random.default_rng(1).exponential(0.05, 999)), NormalError(0.02)],
)
def test_p_value_below_a_level_exactly_when_the_bound_clears_the_threshold(error):
    for estimate in np.linspace(0.0, 0.3, 31):
        for threshold in (0.0, 0.04, 0.1):
            check = Check("x", estimate, threshold, error)
            for level in (0.05, 0.01, 0.005):
                bound = check.lower(level)
                if abs(bound - threshold) > 1e-12:
                    assert (check.p_value <= level) == (bound > threshold), (estimate, threshold, level)


def test_ks_p_value_of_no_change_is_scipys():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=300), rng.normal(0.2, 1, size=200)
    d, p = stats.ks_two_sample(a, b)
    check = Check("ks", d, 0.0, KolmogorovError(stats.ks_rows(300, 200)))
    assert check.p_change == pytest.approx(p)
    assert check.p_change == pytest.approx(st.ks_2samp(a, b, method="asymp").pvalue, rel=1e-9)


def test_permutation_draws_are_the_null_of_the_statistic():
    # Under no change the permutation p-value is uniform: about 5 % of null tables fall below 0.05.
    rng = np.random.default_rng(3)
    hits = 0
    for seed in range(200):
        pooled = rng.choice(list("abcde"), 400, p=[0.4, 0.3, 0.15, 0.1, 0.05])
        _, ref, cur = stats.category_counts(pd.Series(pooled[:250]), pd.Series(pooled[250:]))
        draws = stats.permutation_draws(ref, cur, stats.tv_rows, 499, seed)
        hits += DrawnError(draws).sf(stats.total_variation(ref, cur)) <= 0.05
    assert 2 <= hits <= 20  # binomial(200, 0.05): mean 10


def test_unseen_share_under_no_change_is_what_the_reference_misses():
    values = np.array([f"v{i}" for i in range(5000)])
    weights = 1.0 / np.arange(1, 5001) ** 1.1
    rng = np.random.default_rng(4)
    gaps = []
    for _ in range(50):
        ref = pd.Series(rng.choice(values, 1000, p=weights / weights.sum()))
        cur = pd.Series(rng.choice(values, 1000, p=weights / weights.sum()))
        _, rc, cc = stats.category_counts(ref, cur)
        observed, expected, se = stats.unseen_share(rc, cc)
        gaps.append((observed - expected) / se)
    assert abs(np.mean(gaps)) < 0.5 and 0.5 < np.std(gaps) < 1.5  # centred, about unit scale


def test_wasserstein_draws_scale_with_the_sample_sizes():
    rng = np.random.default_rng(5)
    big = stats.wasserstein_draws(rng.normal(size=20_000), rng.normal(size=20_000), 400, 0)
    small = stats.wasserstein_draws(rng.normal(size=2_000), rng.normal(size=2_000), 400, 0)
    assert np.median(small) / np.median(big) == pytest.approx(np.sqrt(10), rel=0.2)


def test_total_variation_and_rare_categories():
    assert stats.total_variation(np.array([30.0, 70.0]), np.array([40.0, 60.0])) == pytest.approx(0.1)
    ref, cur = stats.lump_rare(np.array([50.0, 1.0, 2.0, 40.0]), np.array([45.0, 0.0, 1.0, 50.0]))
    assert ref.tolist() == [50.0, 40.0, 3.0] and cur.tolist() == [45.0, 50.0, 1.0]
