"""The vectorised statistics agree with scipy's reference implementations on small inputs."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from kfp_ct.drift import stats


@pytest.mark.parametrize(
    ("seed", "n1", "n2", "shift", "integers"),
    [
        (0, 50, 70, 0.0, False),
        (1, 200, 120, 0.4, False),
        (2, 300, 300, 0.1, True),
        (3, 9, 15, 1.0, True),
    ],
)
def test_ks_matches_scipy(seed, n1, n2, shift, integers):
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 1, n1)
    b = rng.normal(shift, 1, n2)
    if integers:  # many ties
        a, b = np.round(a * 2), np.round(b * 2)
    d, p = stats.ks_two_sample(a, b)
    ref = st.ks_2samp(a, b, method="asymp")
    assert d == pytest.approx(ref.statistic, abs=1e-12)
    assert p == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)


def test_ks_empty_side_is_no_evidence():
    assert stats.ks_two_sample(np.array([]), np.array([1.0, 2.0])) == (0.0, 1.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_wasserstein_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    a = rng.gamma(2.0, 1.5, 80)
    b = np.round(rng.gamma(2.5, 1.5, 130), 1)
    expected = st.wasserstein_distance(a, b) / np.std(a)
    assert stats.wasserstein_normed(a, b) == pytest.approx(expected, rel=1e-10)


def test_category_counts_align_union_and_drop_nan():
    ref = pd.Series(["a", "b", "b", None, "c"])
    cur = pd.Series(["b", "d", "d", "a"])
    cats, rc, cc = stats.category_counts(ref, cur)
    table = dict(zip(cats, zip(rc, cc, strict=True), strict=True))
    assert table == {"a": (1, 1), "b": (2, 1), "c": (1, 0), "d": (0, 2)}


def test_chi2_matches_scipy_contingency_including_new_category():
    rc = np.array([120.0, 80.0, 40.0, 0.0])
    cc = np.array([100.0, 95.0, 30.0, 12.0])  # last column: category unseen in the reference
    statistic, p, dof = stats.chi2_homogeneity(rc, cc)
    ref_stat, ref_p, ref_dof, _ = st.chi2_contingency(np.vstack([rc, cc]), correction=False)
    assert statistic == pytest.approx(ref_stat, rel=1e-12)
    assert p == pytest.approx(ref_p, rel=1e-9)
    assert dof == ref_dof == 3


def test_chi2_single_category_is_no_evidence():
    assert stats.chi2_homogeneity(np.array([5.0]), np.array([7.0])) == (0.0, 1.0, 0)


def test_psi_equals_symmetric_kl_from_scipy():
    rc = np.array([30.0, 50.0, 20.0])
    cc = np.array([20.0, 45.0, 35.0])
    p, q = rc / rc.sum(), cc / cc.sum()
    expected = st.entropy(q, p) + st.entropy(p, q)  # PSI = KL(q||p) + KL(p||q)
    assert stats.psi(rc, cc) == pytest.approx(expected, rel=1e-12)
    assert stats.psi(rc, rc * 3) == pytest.approx(0.0, abs=1e-15)


def test_psi_new_category_is_large_but_finite():
    value = stats.psi(np.array([50.0, 50.0, 0.0]), np.array([45.0, 45.0, 10.0]))
    assert np.isfinite(value)
    assert value > 0.25
