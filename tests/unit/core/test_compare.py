"""Compare: paired tests on the same rows decide promote / reject / first-model."""

import numpy as np
import pytest
from scipy import stats as sps

from kfp_ct.core.compare import FIRST_MODEL, PROMOTE, REJECT, ComparePolicy, decide
from kfp_ct.core.metrics import Scored
from kfp_ct.core.paired import mcnemar
from kfp_ct.errors import ParameterError


def scored(y, correct_share, rng, classes=(0, 1), noise=0.3):
    """A fake binary scorer: right on `correct_share` of rows, probabilities to match."""
    y = np.asarray(y)
    right = rng.random(len(y)) < correct_share
    pred = np.where(right, y, 1 - y)
    p1 = np.clip(np.where(pred == 1, 0.8, 0.2) + rng.normal(0, noise / 3, len(y)), 0.01, 0.99)
    return Scored(y, pred, np.column_stack([1 - p1, p1]), np.array(classes))


@pytest.fixture
def y():
    return np.random.default_rng(0).integers(0, 2, 2000)


def test_mcnemar_matches_binomial():
    a = np.array([True] * 30 + [False] * 10 + [True] * 50)
    b = np.array([False] * 30 + [True] * 10 + [True] * 50)
    assert mcnemar(a, b) == pytest.approx(sps.binomtest(30, 40, 0.5, alternative="greater").pvalue)
    assert mcnemar(a, a) == 1.0


def test_first_model_and_first_model_bar(y):
    rng = np.random.default_rng(1)
    chal = scored(y, 0.8, rng)
    d = decide("binary", chal, None, ComparePolicy())
    assert d.decision == FIRST_MODEL and d.deploys
    d = decide("binary", chal, None, ComparePolicy(primary_metric="accuracy", min_first_model=0.95))
    assert d.decision == REJECT and "misses" in d.reasons[0]


def test_clearly_better_is_promoted(y):
    rng = np.random.default_rng(2)
    d = decide("binary", scored(y, 0.9, rng), scored(y, 0.75, rng), ComparePolicy(), champion_version="3")
    assert d.decision == PROMOTE, d.reasons
    assert d.test.p_value < 0.05 and d.test.ci_low > 0
    assert d.champion_version == "3"


def test_equal_models_are_rejected(y):
    rng = np.random.default_rng(3)
    same = scored(y, 0.8, rng)
    d = decide("binary", same, same, ComparePolicy())
    assert d.decision == REJECT


def test_tiny_gain_is_not_significant(y):
    rng = np.random.default_rng(4)
    base = scored(y, 0.80, rng)
    pred = base.y_pred.copy()
    wrong = np.flatnonzero(pred != y)[:3]
    pred[wrong] = y[wrong]  # three more right answers out of 2000
    better = Scored(y, pred, base.proba, base.classes)
    d = decide("binary", better, base, ComparePolicy(primary_metric="accuracy"))
    assert d.test.delta > 0 and d.decision == REJECT
    assert any("not significant" in r for r in d.reasons)
    loose = decide(
        "binary", better, base, ComparePolicy(primary_metric="accuracy", require_significance=False)
    )
    assert loose.decision == PROMOTE


def test_guardrail_blocks_promotion(y):
    rng = np.random.default_rng(5)
    champ = scored(y, 0.85, rng)
    # Better ranking (roc_auc) but worse accuracy: flip hard predictions on many rows.
    chal_proba = champ.proba.copy()
    chal_proba[:, 1] = np.where(y == 1, 0.55, 0.45)
    chal = Scored(y, np.where(rng.random(len(y)) < 0.7, y, 1 - y), chal_proba, champ.classes)
    d = decide("binary", chal, champ, ComparePolicy(guardrails={"accuracy": 0.01}))
    assert d.decision == REJECT
    assert any(r.startswith("guardrail accuracy regressed") for r in d.reasons)


def test_regression_lower_is_better():
    rng = np.random.default_rng(6)
    y = rng.normal(0, 1, 1000)
    good = Scored(y, y + rng.normal(0, 0.1, 1000), None, None)
    bad = Scored(y, y + rng.normal(0, 0.5, 1000), None, None)
    assert decide("regression", good, bad, ComparePolicy()).decision == PROMOTE
    assert decide("regression", bad, good, ComparePolicy()).decision == REJECT


def test_champion_error_rejects(y):
    rng = np.random.default_rng(7)
    d = decide("binary", scored(y, 0.9, rng), None, ComparePolicy(), "2", "KeyError: 'age'")
    assert d.decision == REJECT and "could not score" in d.reasons[0]


def test_policy_validation():
    with pytest.raises(ParameterError, match="unknown metric 'auc'"):
        ComparePolicy(primary_metric="auc").resolve("binary")
    with pytest.raises(ParameterError, match="alpha"):
        ComparePolicy(alpha=0.9).resolve("binary")
    with pytest.raises(ParameterError, match="guardrail"):
        ComparePolicy(guardrails={"accuracy": -1}).resolve("binary")
    with pytest.raises(ParameterError, match="not valid JSON"):
        ComparePolicy.parse_guardrails("{accuracy: 1}")
