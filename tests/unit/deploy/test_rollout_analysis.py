"""Judging canaries and shadows on hand-made captured rows: every reason, and the bake driver."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from kfp_ct.capture import store
from kfp_ct.deploy import analysis, bake
from kfp_ct.deploy.base import DeployResult, RolloutPlan

T0 = datetime(2026, 12, 1, 12, tzinfo=UTC)


def rows(version, n, *, errors=0, latency=5.0, slow=0, preds=None, role=None, ids=None, start=0):
    """Captured rows of one classifier version: n requests, some failing, some slow."""
    preds = preds if preds is not None else [i % 2 for i in range(n)]
    return pd.DataFrame({
        store.REQUEST_ID: ids if ids is not None else [f"r{start + i}" for i in range(n)],
        store.ROW: 0,
        store.TIME: [pd.Timestamp(T0 + timedelta(seconds=1 + i / 1000)) for i in range(n)],
        store.MODEL: "m",
        store.VERSION: str(version),
        store.STATUS: [400 if i < errors else 200 for i in range(n)],
        store.LATENCY_MS: [latency * 40 if i < slow else latency for i in range(n)],
        store.PREDICTION: preds,
        store.PROBABILITIES: [[0.5, 0.5]] * n,
        store.ROLE: role,
    })  # fmt: skip


def labels_for(frame, truth):
    return pd.DataFrame({store.REQUEST_ID: frame[store.REQUEST_ID], store.LABEL: truth})


NO_LABELS = pd.DataFrame({store.REQUEST_ID: pd.Series(dtype=str), store.LABEL: pd.Series(dtype=object)})
PLAN = RolloutPlan(strategy="canary", canary_percent=20, min_canary_requests=100)


def verdict(champion, canary, labels=NO_LABELS, plan=PLAN, extensions_left=0):
    frame = pd.concat([champion, canary], ignore_index=True)
    return bake.canary_verdict(frame, labels, "1", "2", plan, extensions_left)


def test_a_healthy_canary_is_promoted_naming_what_held():
    v = verdict(rows(1, 800), rows(2, 200, start=800))
    assert v.promote and v.reasons[0].startswith("every threshold held: 200 requests")
    assert v.candidate.requests == 200 and v.candidate.success_rate == 1.0
    assert v.prediction_shift == 0.0
    assert v.tags()["kfp_ct.rollout.verdict"] == "promote"


def test_failing_requests_roll_back_with_the_success_rate():
    v = verdict(rows(1, 800), rows(2, 200, errors=10, start=800))
    assert v.action == "rollback"
    assert v.reasons == ["success rate 95.00% under 99.00% (champion 100.00% on the same period)"]


def test_traffic_the_champion_also_refuses_is_not_the_canarys_fault():
    v = verdict(rows(1, 800, errors=40), rows(2, 200, errors=10, start=800))
    assert v.promote, v.reasons


def test_slow_canary_rolls_back_on_p99():
    v = verdict(rows(1, 800), rows(2, 200, slow=5, start=800))
    assert v.action == "rollback" and v.reasons == ["latency p99 200.0 ms over 100 ms"]


def test_shifted_predictions_roll_back_on_psi():
    v = verdict(rows(1, 800), rows(2, 200, preds=[1] * 190 + [0] * 10, start=800))
    assert v.action == "rollback" and len(v.reasons) == 1
    assert v.reasons[0].startswith("prediction shift (PSI)") and v.prediction_shift > 0.2


def test_worse_labelled_metric_rolls_back_only_with_enough_labels():
    champion, canary = rows(1, 800), rows(2, 200, start=800)
    truth_champion = champion[store.PREDICTION].tolist()  # champion always right
    truth_canary = [1 - p if i % 5 == 0 else p for i, p in enumerate(canary[store.PREDICTION])]  # 80 %
    labels = pd.concat([labels_for(champion, truth_champion), labels_for(canary, truth_canary)])
    v = verdict(champion, canary, labels)
    assert v.action == "rollback"
    assert v.reasons == ["live accuracy 0.8 on 200 labelled rows is more than 5% worse than the champion's 1"]
    few = labels[
        labels[store.REQUEST_ID].isin(canary[store.REQUEST_ID].head(10))
        | labels[store.REQUEST_ID].isin(champion[store.REQUEST_ID])
    ]
    assert verdict(champion, canary, few).promote  # 10 labelled canary rows: not judged


def test_several_broken_thresholds_are_all_named():
    v = verdict(rows(1, 800), rows(2, 200, errors=10, slow=20, start=800))
    assert v.action == "rollback" and len(v.reasons) == 2


@pytest.mark.parametrize(
    ("on_insufficient", "left", "action", "says"),
    [
        ("rollback", 0, "rollback", "fewer than 100: rollback (on_insufficient)"),
        ("promote", 0, "promote", "fewer than 100: promote (on_insufficient)"),
        ("extend", 2, "extend", "fewer than 100: extend (on_insufficient)"),
        ("extend", 0, "rollback", "after 3 extensions: rolled back"),
    ],
)
def test_too_few_requests_do_what_on_insufficient_says(on_insufficient, left, action, says):
    plan = RolloutPlan(strategy="canary", min_canary_requests=100, on_insufficient=on_insufficient)
    v = verdict(rows(1, 200), rows(2, 40, start=200), plan=plan, extensions_left=left)
    assert v.action == action and says in v.reasons[0] and "answered 40 requests" in v.reasons[0]


def test_regression_shift_uses_the_champions_deciles():
    rng = np.random.default_rng(0)
    same = analysis.prediction_shift(
        pd.DataFrame({store.STATUS: 200, store.PREDICTION: rng.normal(size=2000)}),
        pd.DataFrame({store.STATUS: 200, store.PREDICTION: rng.normal(size=500)}),
    )
    moved = analysis.prediction_shift(
        pd.DataFrame({store.STATUS: 200, store.PREDICTION: rng.normal(size=2000)}),
        pd.DataFrame({store.STATUS: 200, store.PREDICTION: rng.normal(1.0, size=500)}),
    )
    assert same < 0.05 < 0.2 < moved


# ------------------------------------------------------------------ shadow
SHADOW_PLAN = RolloutPlan(strategy="shadow", min_shadow_requests=100, max_disagreement=0.05)


def shadow_frame(n, flip_every=0, shadow_errors=0):
    answers = rows(1, n)
    preds = [
        1 - p if flip_every and i % flip_every == 0 else p for i, p in enumerate(answers[store.PREDICTION])
    ]
    copies = rows(2, n, preds=preds, role=store.SHADOW_ROLE, ids=answers[store.REQUEST_ID].tolist(),
                  errors=shadow_errors)  # fmt: skip
    return pd.concat([answers, copies], ignore_index=True), answers


def test_shadow_rule_holds_on_agreeing_evidence():
    frame, _ = shadow_frame(200, flip_every=50)  # 2 % disagree
    v = bake.shadow_verdict(frame, NO_LABELS, "1", "2", SHADOW_PLAN)
    assert v.promote and v.agreement == 0.98 and v.extra["compared_requests"] == 200
    assert v.champion.requests == 200 and v.candidate.requests == 200  # answers and copies apart


@pytest.mark.parametrize(
    ("n", "flip", "errors", "says"),
    [
        (50, 0, 0, "50 requests seen by both versions, fewer than 100"),
        (200, 10, 0, "disagreement 10.00% over 5.00%"),
        (200, 0, 4, "shadow success rate 98.00% under 99.00%"),
    ],
)
def test_shadow_rule_refuses_naming_why(n, flip, errors, says):
    frame, _ = shadow_frame(n, flip_every=flip, shadow_errors=errors)
    v = bake.shadow_verdict(frame, NO_LABELS, "1", "2", SHADOW_PLAN)
    assert not v.promote and says in v.reasons


def test_shadow_rule_refuses_a_worse_labelled_metric():
    frame, answers = shadow_frame(200, flip_every=25)  # shadow wrong on 4 % where the champion is right
    labels = labels_for(answers, answers[store.PREDICTION].tolist())
    v = bake.shadow_verdict(frame, labels, "1", "2", SHADOW_PLAN)
    assert not v.promote and v.reasons == [
        "live accuracy 0.96 on 200 labelled rows is worse than the champion's 1"
    ]
    assert (v.champion.metric_value, v.candidate.metric_value) == (1.0, 0.96)


# ------------------------------------------------------------------ the driver
class FakeTarget:
    """Records the traffic moves; a capture store written by the test stands for the server."""

    name = "fake"

    def __init__(self):
        self.calls = []

    def start_canary(self, request, percent):
        self.calls.append(("start_canary", request.model_version, percent))
        return DeployResult("http://x")

    def conclude(self, model_name, version, promote):
        self.calls.append(("conclude", version, promote))
        return DeployResult("http://x")

    def captured_as(self, model_name):  # like KServe: the served name is not the registered one
        return f"{model_name}-served"


def request(version="2"):
    from kfp_ct.deploy.base import DeployRequest

    return DeployRequest("m", version, f"models:/m/{version}", None, None)


def write(uri, frame):
    now = pd.Timestamp(datetime.now(UTC))
    frame = frame.assign(**{store.TIME: now})
    store.write_rows(uri, "m-served", frame)


def test_run_canary_extends_then_promotes_and_concludes(tmp_path, monkeypatch):
    monkeypatch.setenv("KFP_CT_CAPTURE_FLUSH_S", "0.01")
    uri, target = str(tmp_path / "capture"), FakeTarget()
    plan = RolloutPlan(strategy="canary", canary_percent=20, bake_seconds=4, min_canary_requests=100,
                       on_insufficient="extend")  # fmt: skip
    waits = []

    def sleep(s):  # the server "captures" traffic while the driver waits
        waits.append(s)
        if len(waits) == 1:
            write(uri, pd.concat([rows(1, 200), rows(2, 50, start=200)]))
        elif len(waits) == 4:
            write(uri, pd.concat([rows(1, 200, start=1000), rows(2, 60, start=2000)]))

    v = bake.run_canary(target, request(), "1", plan, uri, sleep)
    assert v.promote and v.extra["extensions"] == 1 and v.candidate.requests == 110
    assert target.calls == [("start_canary", "2", 20), ("conclude", "2", True)]
    assert sum(waits) == pytest.approx(2 * (4 + 0.01 + bake.SETTLE_MARGIN_S))


def test_run_canary_rolls_back_and_an_interrupted_bake_leaves_the_champion(tmp_path, monkeypatch):
    monkeypatch.setenv("KFP_CT_CAPTURE_FLUSH_S", "0.01")
    uri, target = str(tmp_path / "capture"), FakeTarget()
    plan = RolloutPlan(strategy="canary", bake_seconds=1, min_canary_requests=10)
    traffic = [pd.concat([rows(1, 100), rows(2, 100, errors=50, start=100)])]
    v = bake.run_canary(target, request(), "1", plan, uri, lambda s: traffic and write(uri, traffic.pop()))
    assert v.action == "rollback" and "success rate 50.00%" in v.reasons[0]
    assert target.calls[-1] == ("conclude", "2", False)

    def interrupted(s):
        raise KeyboardInterrupt

    from kfp_ct.errors import DeployError

    with pytest.raises(DeployError, match="v1 serves alone"):
        bake.run_canary(
            target, request(), "1", RolloutPlan(strategy="canary", bake_seconds=5), uri, interrupted
        )
    assert target.calls[-1] == ("conclude", "2", False)


def test_a_canary_that_answered_nothing_is_never_promoted():
    v = verdict(rows(1, 800, errors=800), rows(2, 200, errors=200, start=800))
    assert v.action == "rollback" and v.reasons == ["none of its 200 requests succeeded"]


def test_shadow_copies_are_never_counted_as_answers():
    from kfp_ct.capture.signals import request_stats

    frame, answers = shadow_frame(100)
    assert request_stats(store.answered_rows(frame))["count"] == 100
    assert store.answered_rows(frame)[store.VERSION].unique().tolist() == ["1"]
    written_before_shadows = answers.drop(columns=[store.ROLE])
    assert not store.is_shadow(written_before_shadows).any()
    assert len(store.answered_rows(written_before_shadows)) == 100


def test_a_promotion_the_target_cannot_make_falls_back_to_the_champion(tmp_path, monkeypatch):
    from kfp_ct.errors import DeployError, ServingError

    monkeypatch.setenv("KFP_CT_CAPTURE_FLUSH_S", "0.01")
    uri = str(tmp_path / "capture")

    class Refusing(FakeTarget):
        def conclude(self, model_name, version, promote):
            super().conclude(model_name, version, promote)
            if promote:
                raise ServingError("the server did not answer")
            return DeployResult("http://x")

    target = Refusing()
    traffic = [pd.concat([rows(1, 100), rows(2, 100, start=100)])]
    plan = RolloutPlan(strategy="canary", bake_seconds=1, min_canary_requests=10)
    with pytest.raises(DeployError, match="concluding failed: the server did not answer"):
        bake.run_canary(target, request(), "1", plan, uri, lambda s: traffic and write(uri, traffic.pop()))
    assert target.calls[-2:] == [("conclude", "2", True), ("conclude", "2", False)]
