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


# ------------------------------------------------ issue #16: a gate whose report matches its test
def borderline(n, gain, seed):
    """Binary scorers whose ROC AUCs differ by about `gain` (correlated noise, as paired models are)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    noise = rng.normal(size=n)

    def model(mu, eps):
        p1 = 1 / (1 + np.exp(-(mu * y + eps - mu / 2)))
        return Scored(y, (p1 > 0.5).astype(int), np.column_stack([1 - p1, p1]), np.array([0, 1]))

    other = 0.87 * noise + np.sqrt(1 - 0.87**2) * rng.normal(size=n)
    return model(1.47 + gain, other), model(1.47, noise)


def test_reported_interval_is_the_one_the_test_uses():
    policy = ComparePolicy(guardrails={"accuracy": 1.0}, n_bootstrap=500)
    checked = 0
    for seed in range(40):
        chal, champ = borderline(400, 0.06, seed)
        t = decide("binary", chal, champ, ComparePolicy(**{**policy.__dict__, "seed": seed})).test
        assert (t.p_value < 0.05) == (t.ci_low > 0), (seed, t)  # margin 0: H0 is delta <= 0
        assert t.ci_low <= t.delta <= t.ci_high
        checked += t.p_value < 0.05
    assert t.confidence == pytest.approx(0.9) and t.margin == 0.0
    assert checked >= 5  # some promotions among them: the equivalence was exercised
    # McNemar (accuracy): the Clopper-Pearson bound of the discordant split, mapped onto the gain.
    rng = np.random.default_rng(9)
    for extra in (20, 28, 35, 60):
        y = rng.integers(0, 2, 1000)
        champ = scored(y, 0.8, rng)
        pred = champ.y_pred.copy()
        pred[np.flatnonzero(pred != y)[:extra]] = y[np.flatnonzero(pred != y)[:extra]]
        chal = Scored(y, pred, champ.proba, champ.classes)
        t = decide("binary", chal, champ, ComparePolicy(primary_metric="accuracy")).test
        assert (t.p_value < 0.05) == (t.ci_low > 0), t


def test_min_improvement_is_a_margin_the_test_checks():
    n = 2000
    y = np.zeros(n, dtype=int)
    chal_right = np.r_[np.ones(130, bool), np.zeros(70, bool), np.ones(n - 200, bool)]
    champ_right = np.r_[np.zeros(130, bool), np.ones(70, bool), np.ones(n - 200, bool)]
    proba = np.tile([0.6, 0.4], (n, 1))

    def model(right):
        return Scored(y, np.where(right, 0, 1), proba, np.array([0, 1]))

    chal, champ = model(chal_right), model(champ_right)
    plain = decide("binary", chal, champ, ComparePolicy(primary_metric="accuracy"))
    assert plain.decision == PROMOTE and plain.test.delta == pytest.approx(0.03)
    # +0.03 is significantly above 0 but not above a 0.025 margin: H0 is delta <= 0.025.
    margin = decide("binary", chal, champ, ComparePolicy(primary_metric="accuracy", min_improvement=0.025))
    assert margin.decision == REJECT, margin.reasons
    assert margin.test.margin == 0.025 and margin.test.p_value > 0.05
    assert margin.test.ci_low < 0.025 < margin.test.delta
    assert any("H0 'improvement <= 0.025'" in r and "not significant" in r for r in margin.reasons)


def test_a_non_finite_primary_metric_never_promotes_and_the_reason_names_it():
    rng = np.random.default_rng(11)
    y = np.ones(300, dtype=int)  # held-out rows of one class: ROC AUC is undefined
    better, worse = scored(y, 0.95, rng), scored(y, 0.7, rng)
    loose = ComparePolicy(require_significance=False)
    d = decide("binary", better, worse, loose, champion_version="4")
    assert d.decision == REJECT
    assert d.reasons[0].startswith("roc_auc is not finite") and "nan" in d.reasons[0]
    assert not any("improved by +nan" in r for r in d.reasons)
    assert decide("binary", better, None, loose).decision == REJECT  # nor as a first model


def test_a_class_the_champion_never_saw_is_scored_as_its_error():
    rng = np.random.default_rng(12)
    y = np.array(["high", "low", "medium", "churned"])[rng.integers(0, 4, 800)]
    old = np.array(["high", "low", "medium"])
    new = np.array(["churned", "high", "low", "medium"])

    def model(classes, right_share):
        right = (rng.random(len(y)) < right_share) & np.isin(y, classes)
        pred = np.where(right, y, classes[rng.integers(0, len(classes), len(y))])
        proba = np.where(classes[None, :] == pred[:, None], 0.7, 0.3 / (len(classes) - 1))
        return Scored(y, pred, proba, classes)

    for primary in ("accuracy", "log_loss", "roc_auc", "f1"):
        d = decide("multiclass", model(new, 0.8), model(old, 0.8), ComparePolicy(primary_metric=primary))
        assert d.decision == PROMOTE, (primary, d.reasons)
        assert all(np.isfinite(v) for v in d.champion.values()), d.champion
    assert d.champion["accuracy"] < 0.8 * 0.75 + 0.05  # the unseen quarter of rows are errors
