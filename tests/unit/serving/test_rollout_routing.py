"""Routing policies (split, shadow), their spec validation, and the bounded shadow queue."""

from __future__ import annotations

import threading
import time
from collections import Counter
from types import SimpleNamespace

import pytest

from kfp_ct.errors import PayloadError
from kfp_ct.serving.router import AllTo, Shadow, Split, interleave, policy_from_route
from kfp_ct.serving.shadow import ShadowSender
from kfp_ct.serving.spec import DeploymentSpec

VERSIONS = {"1": "/m/1", "2": "/m/2"}


@pytest.mark.parametrize("percent", [1, 5, 20, 50, 73, 99])
def test_split_is_exact_over_every_hundred_requests(percent):
    policy = Split({"1": 100 - percent, "2": percent})
    picks = [policy.pick(None) for _ in range(1000)]
    assert Counter(picks)["2"] == 10 * percent
    # any window of 100 consecutive requests is within one request of the share
    for start in range(0, 900, 37):
        assert abs(picks[start : start + 100].count("2") - percent) <= 1


def test_interleave_spreads_the_canary():
    assert interleave({"1": 80, "2": 20})[:5].count("2") == 1
    assert interleave({"1": 3, "2": 1}) == ("1", "1", "2", "1")


def test_split_is_accurate_from_many_threads():
    policy = Split({"1": 80, "2": 20})
    picks: list[str] = []
    lock = threading.Lock()

    def worker():
        mine = [policy.pick(None) for _ in range(250)]
        with lock:
            picks.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Counter(picks)["2"] == 200


def test_shadow_answers_with_the_champion_and_needs_both_loaded():
    policy = policy_from_route({"policy": "shadow", "version": "1", "shadow": "2"})
    assert policy == Shadow("1", "2")
    assert {policy.pick(None) for _ in range(10)} == {"1"}
    assert policy.targets() == {"1", "2"}
    assert policy_from_route({"policy": "single", "version": "2"}) == AllTo("2")


def test_spec_serving_and_candidates():
    split = DeploymentSpec("m", VERSIONS).split({"1": 80, "2": 20})
    assert (split.serving, split.candidates) == ("1", ["2"])
    shadow = DeploymentSpec("m", VERSIONS).shadowed("1", "2")
    assert (shadow.serving, shadow.candidates) == ("1", ["2"])
    again = DeploymentSpec.from_json(shadow.to_json())
    assert again.route == {"policy": "shadow", "version": "1", "shadow": "2"}
    assert DeploymentSpec("m", VERSIONS).routed_to("2").candidates == []


@pytest.mark.parametrize(
    ("route", "message"),
    [
        ({"policy": "split", "weights": {"1": 80, "3": 20}}, "v3, which is not among"),
        ({"policy": "split", "weights": {"1": 0, "2": 0}}, "add up to 0"),
        ({"policy": "split", "weights": {"1": 80.5, "2": 19.5}}, "integers >= 0"),
        ({"policy": "split", "weights": {"1": -5, "2": 105}}, "integers >= 0"),
        ({"policy": "split"}, "needs 'weights'"),
        ({"policy": "shadow", "version": "1", "shadow": "1"}, "two different versions"),
        ({"policy": "shadow", "version": "1", "shadow": "9"}, "v9, which is not among"),
        ({"policy": "mirror", "version": "1"}, "unknown routing policy 'mirror'"),
        ("single", "must be a JSON object"),
    ],
)
def test_spec_refuses_bad_routes_in_one_line(route, message):
    with pytest.raises(PayloadError, match=message) as exc:
        DeploymentSpec("m", VERSIONS, route)
    assert "\n" not in str(exc.value)


class SlowModel:
    """A shadow version that blocks until released (a stuck challenger)."""

    name, version = "m", "2"

    def __init__(self):
        self.release = threading.Event()
        self.calls = 0

    def score(self):
        self.calls += 1
        self.release.wait(10)
        return []


def test_shadow_queue_is_bounded_drops_and_counts_and_never_blocks():
    sender = ShadowSender(maxsize=3)
    model = SlowModel()
    sent = [sender.send(model, "v2", model.score, f"r{i}", 0.0, []) for i in range(20)]
    # one job is being scored (blocked), three wait in the queue, the rest are dropped at once
    assert sent.count(True) <= 4 and sender.dropped == 20 - sent.count(True) >= 16
    model.release.set()
    assert sender.drain(10)
    assert model.calls == sent.count(True)


def test_copies_queued_for_a_replaced_shadow_are_skipped_not_scored():
    sender = ShadowSender(maxsize=10)
    old, new = SlowModel(), SlowModel()
    shadow = {"now": old}
    for i in range(4):  # the first blocks the worker; three wait behind it
        sender.send(old, "v2", old.score, f"r{i}", 0.0, [], current=lambda: shadow["now"])
    deadline = time.monotonic() + 10
    while old.calls == 0 and time.monotonic() < deadline:  # the worker holds the first copy
        time.sleep(0.001)
    shadow["now"] = new  # the shadow was replaced while the other three waited
    sender.send(new, "v2", new.score, "r-new", 0.0, [], current=lambda: shadow["now"])
    old.release.set()
    new.release.set()
    assert sender.drain(10)
    assert old.calls == 1 and new.calls == 1 and sender.skipped == 3 and sender.done == 5


def test_a_failing_shadow_copy_does_not_stop_the_worker():
    sender = ShadowSender(maxsize=10)
    model = SimpleNamespace(name="m", version="2")

    def boom():
        raise RuntimeError("challenger broke")

    for i in range(3):
        sender.send(model, "v2", boom, f"r{i}", 0.0, [])
    ok = []
    sender.send(model, "v2", lambda: ok.append(1) or [], "r-ok", 0.0, [])
    assert sender.drain(10) and ok == [1] and sender.done == 4
