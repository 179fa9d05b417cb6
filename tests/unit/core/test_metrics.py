"""Metrics by name: one implementation whose conventions hold on any set of rows (issue #16)."""

import numpy as np
import pytest
from sklearn import metrics as skm

from kfp_ct.core import metrics
from kfp_ct.core.metrics import Scored
from kfp_ct.core.paired import bootstrap_counts, rows_of

CLASSES = np.array(["high", "low", "medium"])


def multiclass(y, seed=0):
    rng = np.random.default_rng(seed)
    y = np.asarray(y)
    proba = rng.dirichlet([1, 1, 1], len(y))
    proba[np.arange(len(y)), np.searchsorted(CLASSES, np.where(np.isin(y, CLASSES), y, "high"))] += 1
    proba /= proba.sum(axis=1, keepdims=True)
    return Scored(y, CLASSES[proba.argmax(axis=1)], proba, CLASSES)


def test_binary_f1_takes_the_models_second_class_as_positive():
    # An all-negative window: no positive to find, so f1 is 0, never the negative class's f1.
    y = np.zeros(50, dtype=int)
    s = Scored(y, y.copy(), np.column_stack([np.full(50, 0.9), np.full(50, 0.1)]), np.array([0, 1]))
    assert metrics.compute("f1", "binary", s) == 0.0
    # With string labels the positive class is classes[1] whatever sorts last among the rows.
    y = np.array(["yes", "no", "yes", "no"])
    p = np.array(["yes", "yes", "yes", "no"])
    proba = np.array([[0.2, 0.8], [0.3, 0.7], [0.1, 0.9], [0.9, 0.1]])
    s = Scored(y, p, proba, np.array(["no", "yes"]))
    assert metrics.compute("f1", "binary", s) == pytest.approx(skm.f1_score(y, p, pos_label="yes"))


def test_multiclass_roc_auc_over_the_classes_present():
    y = np.array(["high", "low"] * 40)  # "medium" absent from these rows
    s = multiclass(y)
    expected = np.mean([skm.roc_auc_score(y == c, s.proba[:, i]) for i, c in enumerate(CLASSES[:2])])
    assert metrics.compute("roc_auc", "multiclass", s) == pytest.approx(expected)
    full = multiclass(np.array(["high", "low", "medium"] * 30), seed=1)
    ovr = skm.roc_auc_score(full.y_true, full.proba, multi_class="ovr", labels=CLASSES)
    assert metrics.compute("roc_auc", "multiclass", full) == pytest.approx(ovr)
    assert np.isnan(metrics.compute("roc_auc", "multiclass", multiclass(np.array(["low"] * 10))))


def test_a_class_the_model_never_saw_is_its_error_not_a_crash():
    y = np.array(["high", "low", "medium", "churned"] * 25)
    s = multiclass(y)
    values = metrics.compute_all("multiclass", s)
    assert all(np.isfinite(v) for v in values.values()), values
    assert values["accuracy"] <= 0.75  # every "churned" row is wrong
    terms = metrics.per_row_loss("log_loss", s)
    assert terms[y == "churned"] == pytest.approx(-np.log(metrics.PROBA_FLOOR))
    known = y != "churned"
    assert values["log_loss"] == pytest.approx(np.mean(terms))
    assert np.mean(terms[known]) == pytest.approx(
        skm.log_loss(y[known], s.proba[known], labels=CLASSES), rel=1e-6
    )


def test_vectorised_resamples_equal_the_metric_on_the_same_rows():
    rng = np.random.default_rng(3)
    y = (rng.random(400) < 0.4).astype(int)
    p1 = np.clip(np.round(rng.random(400) * 0.5 + 0.4 * y, 2), 0.01, 0.99)  # ties on purpose
    s = Scored(y, (p1 > 0.5).astype(int), np.column_stack([1 - p1, p1]), np.array([0, 1]))
    counts = next(bootstrap_counts(400, 25, seed=1))
    y3 = np.array(["high", "low", "medium", "churned"])[rng.integers(0, 4, 400)]
    cases = [
        ("binary", s),
        ("multiclass", multiclass(y3, seed=5)),  # a class the model never saw, too
        ("regression", Scored(rng.normal(size=400), rng.normal(size=400), None, None)),
    ]
    for task, case in cases:
        for name in metrics.metric_names(task):
            fast = metrics.resampled(name, task, case, counts)
            slow = [metrics.compute(name, task, case, rows_of(row)) for row in counts]
            assert fast == pytest.approx(slow, rel=1e-9, nan_ok=True), (task, name)


def test_standard_errors_match_the_bootstrap():
    rng = np.random.default_rng(4)
    y = (rng.random(3000) < 0.3).astype(int)
    p1 = 1 / (1 + np.exp(-(1.5 * y + rng.normal(size=3000) - 0.75)))
    s = Scored(y, (p1 > 0.5).astype(int), np.column_stack([1 - p1, p1]), np.array([0, 1]))
    counts = np.concatenate(list(bootstrap_counts(3000, 600, seed=2)))
    for name in ("roc_auc", "accuracy", "log_loss"):
        boot = np.std(metrics.resampled(name, "binary", s, counts))
        assert metrics.standard_error(name, "binary", s) == pytest.approx(boot, rel=0.15), name
    boot_f1 = np.std([metrics.compute("f1", "binary", s, rows_of(r)) for r in counts[:300]])
    assert metrics.standard_error("f1", "binary", s) == pytest.approx(boot_f1, rel=0.25)


def test_recorded_names_and_direction():
    assert metrics.canonical("test_ROC_AUC") == "roc_auc"
    assert not metrics.higher_is_better("test_log_loss") and metrics.higher_is_better("val_f1")
    assert sorted(metrics.LOWER_IS_BETTER) == ["log_loss", "mae", "rmse"]
