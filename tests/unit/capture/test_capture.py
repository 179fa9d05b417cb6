"""Capture in the project's model server: every V1/V2 request recorded, over real HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pandas as pd
import pytest

from kfp_ct.capture import store
from kfp_ct.capture.config import CaptureConfig
from kfp_ct.capture.recorder import CaptureRecorder, Record, request_id, rows_of
from kfp_ct.serving.client import wait_ready
from kfp_ct.serving.protocol import frame_to_v2_request
from tests.conftest import free_port
from tests.unit.serving.test_serving import save_model

NAME = "churn"


def start_capturing_server(model_dir, capture_dir, *args, **env):
    port = free_port()
    environ = {**os.environ, "KFP_CT_CAPTURE_URI": str(capture_dir), "KFP_CT_CAPTURE_FLUSH_S": "0.2", **env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kfp_ct.serving", f"--model_name={NAME}", f"--model_dir={model_dir}",
         f"--http_port={port}", "--enable_grpc=false", "--model_version=3", *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environ,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, NAME, 180, process=proc)
    return proc, url


def stop(proc, sig=signal.SIGTERM, timeout=30):
    proc.send_signal(sig)
    proc.wait(timeout)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("m") / "model"
    fitted, x = save_model(model_dir)
    return model_dir, fitted, x


def test_request_id_order():
    assert request_id("body", {"x-request-id": "h", "ce-id": "c"}) == "body"
    assert request_id(None, {"x-request-id": "h", "ce-id": "c"}) == "h"
    assert request_id("", {"ce-id": "c"}) == "c"
    assert len(request_id(None, {})) == 36


def test_recorder_batches_and_flushes_on_close(tmp_path):
    config = CaptureConfig(uri=str(tmp_path), batch_size=3, flush_interval_s=60)
    recorder = CaptureRecorder(config)
    for i in range(7):
        recorder.record(Record(f"r{i}", time.time(), "m", "1", "status", 400, 1.0, error="bad"))
    time.sleep(0.5)
    assert len(store.read_capture(str(tmp_path), "m")) == 6  # two full batches, the 7th waits
    recorder.close()
    frame = store.read_capture(str(tmp_path), "m")
    assert sorted(frame[store.REQUEST_ID]) == [f"r{i}" for i in range(7)]
    assert set(frame[store.STATUS]) == {400} and set(frame[store.ERROR]) == {"bad"}


def test_full_queue_drops_and_counts(tmp_path):
    from kfp_ct.capture.recorder import DROPPED

    recorder = CaptureRecorder(CaptureConfig(uri=str(tmp_path), queue_size=1, batch_size=10_000))
    before = DROPPED.labels("q", "queue_full")._value.get()
    started = time.perf_counter()
    for i in range(2000):
        recorder.record(Record(f"r{i}", time.time(), "q", "1", "status", 500, 1.0))
    assert time.perf_counter() - started < 1.0  # never waits
    recorder.close()
    dropped = DROPPED.labels("q", "queue_full")._value.get() - before
    assert dropped > 0 and dropped + recorder.written == 2000


def test_v1_positional_rows():
    record = Record("r", 0.0, "m", "1", "v1", 200, 2.0, [[1, "a"], [2, "b"]],
                    {"predictions": [0, 1], "probabilities": [[0.9, 0.1], [0.2, 0.8]], "classes": [0, 1]},
                    ["x", "c"])  # fmt: skip
    rows = rows_of(record)
    assert [(r["x"], r["c"], r["prediction"], r["row"]) for r in rows] == [(1, "a", 0, 0), (2, "b", 1, 1)]
    assert rows[1]["probabilities"] == [0.2, 0.8] and json.loads(rows[0]["classes"]) == [0, 1]


def test_server_captures_v1_v2_and_malformed(model, tmp_path):
    model_dir, fitted, x = model
    proc, url = start_capturing_server(model_dir, tmp_path)
    try:
        with httpx.Client(base_url=url, trust_env=False, timeout=10) as client:
            rows = x.head(2)
            v2 = {**frame_to_v2_request(rows), "id": "body-id"}
            r = client.post(f"/v2/models/{NAME}/infer", json=v2)
            assert r.status_code == 200 and r.json()["id"] == "body-id"
            assert r.headers["x-request-id"] == "body-id"
            r = client.post(f"/v2/models/{NAME}/infer", json=frame_to_v2_request(rows.head(1)),
                            headers={"X-Request-Id": "hdr-id"})  # fmt: skip
            assert r.json()["id"] == "hdr-id" and r.headers["x-request-id"] == "hdr-id"
            r = client.post(f"/v1/models/{NAME}:predict", json={"instances": rows.to_dict("records")},
                            headers={"Ce-Id": "ce-id"})  # fmt: skip
            assert r.status_code == 200 and r.json()["id"] == "ce-id" and r.headers["x-request-id"] == "ce-id"
            assert r.json()["predictions"] == fitted.predict(rows).tolist()
            bad = client.post(f"/v2/models/{NAME}/infer", content=b"{not json")
            assert bad.status_code == 400 and bad.json()["id"] == bad.headers["x-request-id"]
            bad1 = client.post(f"/v1/models/{NAME}:predict", json={"nope": 1})
            assert bad1.status_code == 400 and bad1.json()["id"]
            metrics = client.get("/metrics").text
    finally:
        stop(proc)
    frame = store.read_capture(str(tmp_path), NAME)
    assert len(frame) == 2 + 1 + 2 + 1 + 1
    by_id = frame.groupby(store.REQUEST_ID)
    assert by_id.size().to_dict() == {"body-id": 2, "hdr-id": 1, "ce-id": 2, bad.json()["id"]: 1,
                                      bad1.json()["id"]: 1}  # fmt: skip
    good = frame[frame[store.STATUS] == 200]
    assert set(good[store.VERSION]) == {"3"} and set(good[store.PROTOCOL]) == {"v1", "v2"}
    body = good[good[store.REQUEST_ID] == "body-id"].sort_values(store.ROW)
    pd.testing.assert_frame_equal(
        body[list(x.columns)].reset_index(drop=True), rows.reset_index(drop=True), check_dtype=False
    )
    assert body[store.PREDICTION].tolist() == fitted.predict(rows).tolist()
    got = [p for row in body[store.PROBABILITIES] for p in row]
    assert got == pytest.approx(fitted.predict_proba(rows).reshape(-1).tolist())
    assert (good[store.LATENCY_MS] > 0).all()
    refused = frame[frame[store.STATUS] == 400]
    assert refused[store.ERROR].str.contains("JSON|instances").all()
    assert refused[list(x.columns)].isna().all().all()
    assert "kfp_ct_capture_records_total" in metrics and "kfp_ct_capture_dropped_total" in metrics
    hour = frame[store.TIME].iloc[0]
    files = list((tmp_path / NAME).glob(f"date={hour:%Y-%m-%d}/hour={hour:%H}/*.parquet"))
    assert files and not list(tmp_path.rglob("*.tmp"))


def test_sampling_and_off(model, tmp_path):
    model_dir, _, x = model
    body = frame_to_v2_request(x.head(1))
    for rate, env, expect in (("0.5", {}, (20, 80)), ("1", {"KFP_CT_CAPTURE": "off"}, (0, 0))):
        out = tmp_path / rate
        proc, url = start_capturing_server(model_dir, out, KFP_CT_CAPTURE_SAMPLE_RATE=rate, **env)
        try:
            with httpx.Client(base_url=url, trust_env=False) as client:
                for _ in range(100):
                    assert client.post(f"/v2/models/{NAME}/infer", json=body).status_code == 200
        finally:
            stop(proc)
        captured = len(store.read_capture(str(out), NAME))
        assert expect[0] <= captured <= expect[1], (rate, captured)
