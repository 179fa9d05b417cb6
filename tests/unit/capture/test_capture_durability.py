"""Capture durability: 10,000 requests over 8 connections, then a graceful stop, then a kill -9."""

from __future__ import annotations

import signal
import threading

import httpx
import orjson
import pytest

from kfp_ct.capture import store
from kfp_ct.serving.protocol import frame_to_v2_request
from tests.unit.capture.test_capture import NAME, model, start_capturing_server, stop  # noqa: F401

BATCH = 200


def load(url, bodies, total, connections=8, stop_after=None):
    """Post `total` single-row requests over `connections` keep-alive clients; the answered ids."""
    answered: list[str] = []
    lock = threading.Lock()
    counter = iter(range(total))

    def worker():
        with httpx.Client(base_url=url, trust_env=False, timeout=30) as client:
            for i in counter:
                try:
                    r = client.post(f"/v2/models/{NAME}/infer", content=bodies[i % len(bodies)],
                                    headers={"content-type": "application/json"})  # fmt: skip
                except httpx.TransportError:
                    return
                if r.status_code == 200:
                    with lock:
                        answered.append(r.headers["x-request-id"])
                        if stop_after is not None and len(answered) == stop_after[0]:
                            stop_after[1]()

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    return answered


@pytest.mark.slow
def test_graceful_stop_loses_nothing_and_kill_loses_at_most_a_batch(model, tmp_path):  # noqa: F811
    model_dir, _, x = model
    bodies = [orjson.dumps(frame_to_v2_request(x.iloc[[i]])) for i in range(200)]
    graceful = tmp_path / "graceful"
    env = {"KFP_CT_CAPTURE_BATCH": str(BATCH), "KFP_CT_CAPTURE_FLUSH_S": "0.5"}
    proc, url = start_capturing_server(model_dir, graceful, **env)
    try:
        answered = load(url, bodies, 10_000)
    finally:
        stop(proc)
    captured = store.read_capture(str(graceful), NAME)
    print(f"graceful stop: {len(answered)} answered, {len(captured)} captured, lost 0 expected")
    assert len(answered) == 10_000
    assert sorted(captured[store.REQUEST_ID]) == sorted(answered)

    killed = tmp_path / "killed"
    proc, url = start_capturing_server(model_dir, killed, **env)
    answered = load(url, bodies, 3_000, stop_after=(1_500, lambda: proc.send_signal(signal.SIGKILL)))
    proc.wait(30)
    captured = set(store.read_capture(str(killed), NAME)[store.REQUEST_ID])
    lost = len(set(answered) - captured)
    print(f"kill -9 mid-load: {len(answered)} answered, {len(captured)} captured, {lost} lost, batch {BATCH}")
    assert captured <= set(answered)
    assert lost <= BATCH


@pytest.mark.slow
def test_graceful_stop_of_worker_processes_loses_nothing(model, tmp_path):  # noqa: F811
    """`--workers 2`: each worker writes what it queued before it exits (a long flush interval)."""
    model_dir, _, x = model
    bodies = [orjson.dumps(frame_to_v2_request(x.iloc[[i]])) for i in range(200)]
    env = {"KFP_CT_CAPTURE_BATCH": "100000", "KFP_CT_CAPTURE_FLUSH_S": "60"}
    proc, url = start_capturing_server(model_dir, tmp_path, "--workers=2", **env)
    try:
        answered = load(url, bodies, 1_000, connections=4)
    finally:
        stop(proc, timeout=60)
    captured = store.read_capture(str(tmp_path), NAME)
    assert len(answered) == 1_000
    assert sorted(captured[store.REQUEST_ID]) == sorted(answered)
