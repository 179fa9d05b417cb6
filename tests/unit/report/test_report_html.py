"""`kfp_ct.report`: the page, its pictures, model cards and the drift table, from plain data."""

from __future__ import annotations

import numpy as np
import pytest

from kfp_ct.core import metrics
from kfp_ct.core.diagnostics import diagnose, metric_intervals
from kfp_ct.report import ReportData, drift_table, render
from kfp_ct.report.card import CardInputs, build_card, card_markdown
from kfp_ct.report.plots import drift_png, evaluation_images

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def binary():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    p1 = np.clip(0.35 * y + rng.uniform(0, 0.65, 400), 0, 1)
    proba = np.column_stack([1 - p1, p1])
    return metrics.Scored(y, (p1 > 0.5).astype(int), proba, np.array([0, 1]))


@pytest.fixture(scope="module")
def regression():
    rng = np.random.default_rng(1)
    y = rng.normal(10, 3, 300)
    return metrics.Scored(y, y + rng.normal(0, 1, 300), None, None)


def test_intervals_hold_the_point_estimate(binary):
    intervals = metric_intervals("binary", binary, n_resamples=200)
    assert set(intervals) == set(metrics.metric_names("binary"))
    for name, (low, high) in intervals.items():
        assert low <= metrics.compute(name, "binary", binary) <= high, name


def test_classifier_diagnostics_make_confusion_roc_and_pr_pictures(binary):
    found = diagnose("binary", binary, n_resamples=100)
    assert found["confusion"]["classes"] == ["0", "1"] and set(found["roc"]) == {"1"}
    assert len(found["roc"]["1"]["fpr"]) <= 200
    images = evaluation_images(found)
    assert set(images) == {"confusion_matrix", "roc_curve", "pr_curve"}
    assert all(png.startswith(PNG) and 3_000 < len(png) < 120_000 for png in images.values())


def test_multiclass_curves_are_one_per_class():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 300)
    proba = rng.dirichlet([1, 1, 1], 300)
    proba[np.arange(300), y] += 1
    proba /= proba.sum(axis=1, keepdims=True)
    scored = metrics.Scored(y, proba.argmax(axis=1), proba, np.array([0, 1, 2]))
    found = diagnose("multiclass", scored, n_resamples=50)
    assert set(found["roc"]) == set(found["pr"]) == {"0", "1", "2"}


def test_regression_diagnostics_make_residual_pictures(regression):
    found = diagnose("regression", regression, n_resamples=100)
    assert "confusion" not in found and len(found["residuals"]["y_true"]) == 300
    assert set(evaluation_images(found)) == {"residuals", "residual_histogram", "predicted_vs_true"}


def test_the_page_is_self_contained_and_escaped(binary):
    found = diagnose("binary", binary, n_resamples=50)
    data = ReportData(
        title="run <1>",
        status="failed",
        error="step 'validate' failed: [age] dtype",
        steps=[
            {"name": "validate", "status": "failed", "seconds": 2.5},
            {"name": "train", "status": "skipped"},
        ],
        validation={
            "source": "x.csv",
            "stats": {"rows": 10.0},
            "violations": [
                {
                    "rule": "dtype",
                    "column": "age",
                    "observed": "<b>",
                    "expected": "numbers",
                    "severity": "error",
                }
            ],
        },
        evaluation=found,
        lineage={"data hash": "abc"},
        images=evaluation_images(found),
    )
    page = render(data)
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page and "http" not in page
    assert "run &lt;1&gt;" in page and "&lt;b&gt;" in page and "<b>" not in page
    for section in ("steps", "validation", "metrics", "plots", "lineage"):
        assert f'<section id="{section}">' in page
    for name in ("confusion_matrix", "roc_curve", "pr_curve"):
        assert f'<img id="{name}" alt=' in page
    assert 'id="decision"' not in page  # no decision record: no section


DRIFT_MD = """**Decision: retrain**

- 2 of 3 features drifted

| feature | kind | test | effect | lower bound | threshold | p (no change) | adjusted p | drifted |
|---|---|---|---|---|---|---|---|---|
| age | numeric | ks | psi=0.412 | 0.300 | 0.2 | 1e-05 | 3e-05 | yes |
| region | categorical | chi2 | psi=0.010 | 0.000 | 0.2 | 0.5 | 1 | no |
"""


def test_drift_rows_come_from_the_drift_steps_table():
    rows = drift_table(DRIFT_MD)
    assert [r["feature"] for r in rows] == ["age", "region"]
    assert rows[0]["effect"] == pytest.approx(0.412) and rows[0]["drifted"] and not rows[1]["drifted"]
    assert drift_png(rows).startswith(PNG)
    page = render(ReportData(title="t", drift={"decision": "retrain", "share": 0.5, "features": rows}))
    assert '<section id="drift">' in page and "age" in page
    assert drift_table("no table here") == []


def test_the_model_card_has_the_toolkit_sections():
    card = build_card(
        CardInputs(
            model_name="m",
            version="3",
            intended_use="triage",
            task="binary",
            label="label",
            label_classes=["0", "1"],
            features=[{"name": "age", "kind": "numeric", "minimum": 18.0, "maximum": 80.0, "dtype": "int64"}],
            estimator="random_forest",
            metrics={"roc_auc": 0.9, "n_rows": 100.0},
            intervals={"roc_auc": [0.85, 0.94]},
            decision={
                "decision": "promote",
                "reasons": ["better"],
                "test": {
                    "method": "paired bootstrap",
                    "delta": 0.02,
                    "ci_low": 0.01,
                    "ci_high": 0.03,
                    "p_value": 0.01,
                },
            },
        )
    )
    assert {"model_details", "model_parameters", "quantitative_analysis", "considerations"} <= set(card)
    [metric] = card["quantitative_analysis"]["performance_metrics"]  # n_rows is no metric
    assert metric == {"type": "roc_auc", "value": "0.9", "slice": "held-out",
                      "confidence_interval": {"lower_bound": "0.85", "upper_bound": "0.94"}}  # fmt: skip
    assert card["considerations"]["use_cases"] == [{"description": "triage"}]
    assert card["quantitative_analysis"]["decision"]["paired_test"]["ci_low"] == 0.01
    text = card_markdown(card)
    assert text.startswith("# Model card: m v3") and "| roc_auc | 0.9 | [0.85, 0.94] |" in text
    assert "seen 18 to 80" in text
