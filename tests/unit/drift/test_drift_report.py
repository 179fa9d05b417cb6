"""detect_drift on synthetic windows with known shifts (seeded, with margins)."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from kfp_ct.drift import DriftConfig, GuardResult, detect_drift
from kfp_ct.errors import DataError, ParameterError

N = 20_000


def make_frame(seed, n=N, shift=0.0, cat_probs=(0.5, 0.3, 0.2), missing=0.0):
    rng = np.random.default_rng(seed)
    x1 = rng.normal(shift, 1.0, n)
    x2 = rng.exponential(1.0, n)
    if missing:
        x2[rng.random(n) < missing] = np.nan
    color = rng.choice(["red", "green", "blue"], n, p=list(cat_probs))
    size = pd.Categorical(rng.choice(["s", "m", "l"], n))
    flag = rng.random(n) < 0.3
    return pd.DataFrame({"x1": x1, "x2": x2, "color": color, "size": size, "flag": flag})


def test_same_distribution_is_not_drift():
    report = detect_drift(make_frame(0), make_frame(1))
    assert report.decision == "skip"
    assert report.drifted_features == []
    kinds = {f.feature: f.kind for f in report.features}
    assert kinds == {
        "x1": "numeric",
        "x2": "numeric",
        "color": "categorical",
        "size": "categorical",
        "flag": "categorical",
    }
    # Margin: sampling noise at n=20k is far below the effect thresholds.
    for f in report.features:
        assert f.effect_size < f.threshold / 3, f


def test_known_shift_is_drift():
    shifted = make_frame(1, shift=0.6, cat_probs=(0.2, 0.3, 0.5))
    report = detect_drift(make_frame(0), shifted, config=DriftConfig(drift_share=0.4))
    by_name = {f.feature: f for f in report.features}
    assert by_name["x1"].drifted and by_name["x1"].effect_size > 0.2
    assert by_name["x1"].p_value < 1e-10
    assert by_name["color"].drifted and by_name["color"].effect_size > 0.3
    assert not by_name["x2"].drifted and not by_name["size"].drifted
    assert report.drifted_features == ["x1", "color"]
    assert report.share_drifted == pytest.approx(2 / 5)
    assert report.decision == "retrain"
    assert report.reasons[0].startswith("data drift: 2/5 features drifted")


def test_share_below_threshold_skips_but_names_drifted_features():
    shifted = make_frame(1, shift=0.6)
    report = detect_drift(make_frame(0), shifted)  # default drift_share 0.5, 1/5 drifted
    assert report.drifted_features == ["x1"]
    assert report.decision == "skip"
    assert "no data drift: 1/5" in report.reasons[0] and "x1" in report.reasons[0]


def test_effect_threshold_guards_against_hypersensitive_p_values():
    # A tiny shift on 200k rows: significant p-value, immaterial effect size.
    ref, cur = make_frame(0, n=200_000), make_frame(1, n=200_000, shift=0.03)
    x1 = {f.feature: f for f in detect_drift(ref, cur).features}["x1"]
    assert x1.p_value < 0.05
    assert x1.effect_size < 0.05
    assert not x1.drifted


def test_new_category_is_drift():
    ref = make_frame(0)
    cur = make_frame(1)
    cur.loc[: N // 20, "color"] = "purple"  # 5 % of the window in an unseen category
    color = {f.feature: f for f in detect_drift(ref, cur).features}["color"]
    assert color.drifted
    assert color.new_categories == ["purple"]
    assert color.new_category_share == pytest.approx((N // 20 + 1) / N)
    assert "purple" in color.reason


def test_missing_share_increase_is_drift():
    x2 = {f.feature: f for f in detect_drift(make_frame(0), make_frame(1, missing=0.3)).features}["x2"]
    assert x2.drifted
    assert x2.missing_current == pytest.approx(0.3, abs=0.02)
    assert "missing share" in x2.reason


def test_wasserstein_and_psi_tests():
    config = DriftConfig(numeric_test="wasserstein", categorical_test="psi")
    same = detect_drift(make_frame(0), make_frame(1), config=config)
    assert same.drifted_features == []
    moved = detect_drift(make_frame(0), make_frame(1, shift=0.3, cat_probs=(0.2, 0.3, 0.5)), config=config)
    by_name = {f.feature: f for f in moved.features}
    # Wasserstein has a p-value gate now (issue #16): a permutation test, not the distance alone.
    assert by_name["x1"].test == "wasserstein" and by_name["x1"].drifted
    assert by_name["x1"].p_value is not None and by_name["x1"].p_value < 0.01
    assert by_name["x1"].effect_size == pytest.approx(0.3, abs=0.05)
    assert by_name["color"].test == "psi" and by_name["color"].drifted


def _labelled(seed, n=N, shift=0.0, flip=False):
    frame = make_frame(seed, n=n, shift=shift)
    y = (frame["x1"] + 0.5 * frame["x2"] > 0.5).astype(int)
    frame["label"] = 1 - y if flip else y
    return frame


def _champion(reference):
    model = LogisticRegression().fit(reference[["x1", "x2"]].fillna(0), reference["label"])

    class Champion:
        def predict(self, frame):
            return model.predict(frame[["x1", "x2"]].fillna(0))

        def predict_proba(self, frame):
            return model.predict_proba(frame[["x1", "x2"]].fillna(0))

    return Champion(), model


def test_performance_decay_with_labels():
    ref = _labelled(0)
    champion, model = _champion(ref)
    recorded = {"accuracy": float(model.score(ref[["x1", "x2"]], ref["label"])), "test_f1": 0.9}
    same = detect_drift(ref, _labelled(1), label="label", champion=champion, champion_metrics=recorded)
    assert same.decision == "skip"
    assert not same.performance.decayed
    assert not same.prediction.drifted
    assert same.prediction.feature == "prediction_proba"
    flipped = detect_drift(
        ref, _labelled(1, flip=True), label="label", champion=champion, champion_metrics=recorded
    )
    assert flipped.decision == "retrain"
    acc = {m.name: m for m in flipped.performance.metrics}["accuracy"]
    assert acc.decayed and acc.current < 0.2
    assert any(r.startswith("performance decay") and "accuracy" in r for r in flipped.reasons)
    assert not flipped.dataset_drift  # inputs did not move: only the concept did


def test_prediction_drift_of_the_champion():
    ref = _labelled(0)
    champion, _ = _champion(ref)
    report = detect_drift(ref[["x1", "x2"]], _labelled(1, shift=1.0)[["x1", "x2"]], champion=champion)
    assert report.prediction.drifted
    assert report.decision == "retrain"
    assert any(r.startswith("prediction drift") for r in report.reasons)
    assert "performance not checked" in report.reasons[-1]


def test_unknown_recorded_metric_is_listed_not_invented():
    ref = _labelled(0)
    champion, _ = _champion(ref)
    report = detect_drift(
        ref, _labelled(1), label="label", champion=champion, champion_metrics={"brier_x": 0.1}
    )
    assert report.performance.metrics == []
    assert report.performance.skipped == ["brier_x"]


def test_to_dict_is_json_safe_and_complete():
    report = detect_drift(make_frame(0), make_frame(1, shift=0.6)).with_guards(
        GuardResult(skip=False, reasons=["cooldown passed: no earlier model version"])
    )
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["decision"] == "skip"
    assert {f["feature"] for f in data["features"]} == {"x1", "x2", "color", "size", "flag"}
    assert data["guards"]["reasons"] == ["cooldown passed: no earlier model version"]
    assert report.metrics()["drift_ks.x1"] > 0.2
    assert "| x1 | numeric | ks |" in report.to_markdown()
    assert "<table>" in report.to_html()


def test_guards_turn_retrain_into_skip_with_reasons():
    report = detect_drift(
        make_frame(0),
        make_frame(1, shift=0.6, cat_probs=(0.2, 0.3, 0.5)),
        config=DriftConfig(drift_share=0.4),
    )
    assert report.decision == "retrain"
    guarded = report.with_guards(GuardResult(skip=True, reasons=["cooldown: 1.0 h ago"]))
    assert guarded.decision == "skip"
    assert guarded.reasons[0].startswith("data drift")
    assert "retrain blocked by guard(s): cooldown: 1.0 h ago" in guarded.reasons


def test_missing_column_names_the_column():
    cur = make_frame(1).drop(columns=["color"])
    with pytest.raises(DataError, match=r"current window lacks feature column\(s\) \['color'\]"):
        detect_drift(make_frame(0), cur)


def test_datetime_columns_are_skipped_and_listed():
    ref, cur = make_frame(0, n=100), make_frame(1, n=100)
    ref["ts"] = pd.date_range("2026-01-01", periods=100, freq="h")
    cur["ts"] = pd.date_range("2026-06-01", periods=100, freq="h")
    report = detect_drift(ref, cur)
    assert report.skipped_columns == ["ts"]
    assert "ts" not in {f.feature for f in report.features}


def test_config_rejects_unknown_and_bad_values():
    with pytest.raises(ParameterError, match="unknown drift setting"):
        DriftConfig.from_dict({"alpah": 0.01})
    with pytest.raises(ParameterError, match="numeric_test='t'"):
        DriftConfig(numeric_test="t")
    assert DriftConfig.from_dict({"alpha": 0.01}).alpha == 0.01
