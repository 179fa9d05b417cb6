"""The closed loop through the real endpoint and CLI: serve, capture, label, monitor, retrain.

A champion is trained and served (`kfp-ct run`); 3,000 in-distribution requests monitor `ok`;
3,000 requests from a shifted distribution whose label relation changed, labelled with
`kfp-ct feedback`, monitor `retrain`, and the version retrained on the captured rows is promoted
and served. Bad labels files are refused with one line, leaving the store unchanged.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import httpx
import mlflow
import orjson
import pandas as pd
import pytest

from kfp_ct import lineage, settings
from kfp_ct.capture import store
from kfp_ct.data.io import write_table
from kfp_ct.data.synth import SynthSpec, make_dataset
from kfp_ct.serving.protocol import frame_to_v2_request

from .helpers import FAST, kfp_ct, registry_state

pytestmark = pytest.mark.slow
MODEL = "kfp-ct-model"


def send(endpoint: str, frame: pd.DataFrame, threads: int = 4) -> list[tuple[str, str]]:
    """One single-row V2 request per row; (request id, answering version) per row, in row order."""
    bodies = [orjson.dumps(frame_to_v2_request(frame.iloc[[i]])) for i in range(len(frame))]
    answers: list = [None] * len(bodies)
    rows = iter(range(len(bodies)))

    def worker():
        with httpx.Client(base_url=endpoint, trust_env=False, timeout=30) as client:
            for i in rows:
                r = client.post(f"/v2/models/{MODEL}/infer", content=bodies[i],
                                headers={"content-type": "application/json"})  # fmt: skip
                assert r.status_code == 200, r.text
                answers[i] = (r.headers["x-request-id"], r.json()["model_version"])

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(300)
    return answers


def wait_captured(ids: list[str], timeout_s: float = 30) -> pd.DataFrame:
    deadline = time.monotonic() + timeout_s
    while True:
        frame = store.read_capture(str(settings.home() / "capture"), MODEL)
        if (not frame.empty and set(ids) <= set(frame[store.REQUEST_ID])) or time.monotonic() > deadline:
            return frame
        time.sleep(0.3)


def feedback_files() -> list[Path]:
    return sorted((settings.home() / "capture" / MODEL / "feedback").glob("*.parquet"))


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    from ..conftest import free_port

    mp = pytest.MonkeyPatch()
    home = tmp_path_factory.mktemp("loop-home")
    mp.setenv("KFP_CT_HOME", str(home))
    mp.setenv("KFP_CT_PORT", str(free_port()))
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    mp.delenv("KFP_CT_CAPTURE_URI", raising=False)
    d = tmp_path_factory.mktemp("loop-data")
    base = write_table(make_dataset(SynthSpec(rows=3000, seed=21)), d / "base.csv")
    out: dict = {"dir": d}
    out["ct"] = kfp_ct("run", "--data", str(base), "--json", *FAST)
    assert out["ct"].code == 0, out["ct"].stderr[-3000:]
    endpoint = out["ct"].summary["endpoint"]
    stable = make_dataset(SynthSpec(rows=3000, seed=31))
    out["stable_ids"] = [i for i, _ in send(endpoint, stable.drop(columns=["label"]))]
    wait_captured(out["stable_ids"])
    # Every answered request is in the store (waited for above): no need to leave seconds to settle.
    out["monitor_ok"] = kfp_ct("monitor", "--json", "--settle-seconds", "0")
    out["monitor_empty"] = kfp_ct("monitor", "--json", "--settle-seconds", "0")
    # The compiled `monitoring` pipeline through kfp.local, over the same in-distribution window.
    since = out["monitor_ok"].summary["window"]["since"] or "1970-01-01T00:00:00+00:00"
    out["pipeline_ok"] = kfp_ct("run", "--pipeline", "monitoring", "--json", "--param", f"since={since}")
    shifted = make_dataset(SynthSpec(rows=3000, seed=32, drift=1.0, concept_drift=0.8))
    answers = send(endpoint, shifted.drop(columns=["label"]))
    out["shifted_versions"] = {v for _, v in answers}
    labels = pd.DataFrame({"request_id": [i for i, _ in answers], "label": shifted["label"]})
    wait_captured(list(labels["request_id"]))
    out["labels"] = write_table(labels, d / "labels.csv")
    yield out
    kfp_ct("stop")
    mp.undo()


def test_in_distribution_traffic_monitors_ok(loop):
    result = loop["monitor_ok"]
    assert result.code == 0, result.stderr[-2000:]
    s = result.summary
    assert s["decision"] == "ok", s["reasons"]
    assert s["rows"] == 3000 and s["labelled_rows"] == 0 and "retraining" not in s
    assert s["drift"]["drifted_features"] == [] and s["performance"]["live"] is None
    assert s["window"]["until"] and s["requests"]["latency_p50_ms"] > 0
    assert set(loop["stable_ids"]) <= set(wait_captured([])[store.REQUEST_ID])
    empty = loop["monitor_empty"]
    assert empty.code == 0 and empty.summary["rows"] == 0 and "no new traffic" in empty.summary["reasons"][0]


def test_the_monitoring_pipeline_runs_through_kfp_local_on_captured_traffic(loop):
    """`kfp-ct run --pipeline monitoring`: the monitor task reads the window, decides ok, no retraining."""
    result = loop["pipeline_ok"]
    assert result.code == 0, result.stderr[-3000:]
    s = result.summary
    assert s["pipeline"] == "monitoring" and s["decision"] == "ok", s
    watched = s["monitor"]
    assert watched["rows"] == 3000 and watched["labelled_rows"] == 0, watched
    assert watched["drift"]["drifted_features"] == [] and watched["monitoring_run_id"]
    assert s["model_version"] is None and s["champion_version"] == "1"  # nothing retrained


@pytest.mark.parametrize(
    ("case", "content", "fragment"),
    [
        ("unknown ids", "request_id,label\nnope-1,1\nnope-2,0\n", "none of the 2 request ids"),
        ("missing id column", "id,label\nx,1\n", "no column 'request_id'"),
        ("wrong label type", None, "the model predicts"),
        ("empty file", "request_id,label\n", "no data rows"),
    ],
)
def test_bad_labels_are_refused_with_one_line(loop, case, content, fragment):
    path = loop["dir"] / f"{case.replace(' ', '-')}.csv"
    if content is None:
        ids = pd.read_csv(loop["labels"])["request_id"].head(5)
        content = "request_id,label\n" + "".join(f"{i},yes\n" for i in ids)
    path.write_text(content)
    before = feedback_files()
    result = kfp_ct("feedback", "--labels", str(path))
    assert result.code == 2, (case, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in result.stderr, lines
    assert feedback_files() == before


def test_shifted_labelled_traffic_retrains_promotes_and_serves(loop):
    first = kfp_ct("feedback", "--labels", str(loop["labels"]), "--json")
    assert first.code == 0, first.stderr
    assert first.summary["recorded"] == 3000 and first.summary["unknown_ids"] == 0
    again = kfp_ct("feedback", "--labels", str(loop["labels"]), "--json")  # idempotent
    assert again.summary["recorded"] == 0 and again.summary["already_recorded"] == 3000
    assert len(feedback_files()) == 1

    result = kfp_ct("monitor", "--json", "--settle-seconds", "0", timeout=900)
    assert result.code == 0, result.stderr[-3000:]
    s = result.summary
    print(
        json.dumps(
            {k: s[k] for k in ("decision", "reasons", "rows", "labelled_rows", "drift", "performance")}
        )
    )
    assert s["decision"] == "retrain", s["reasons"]
    assert s["rows"] == 3000 and s["labelled_rows"] == 3000
    assert s["drift"]["share"] > 0 and s["drift"]["drifted_features"]
    perf = s["performance"]
    assert perf["metric"] == "roc_auc" and perf["live"] < perf["champion"]
    retraining = s["retraining"]
    assert retraining["decision"] == "promote", retraining
    new_version = retraining["model_version"]
    aliases, _ = registry_state(MODEL)
    assert aliases["champion"] == new_version and loop["shifted_versions"] == {"1"}

    later = send(
        loop["ct"].summary["endpoint"], make_dataset(SynthSpec(rows=40, seed=33)).drop(columns=["label"])
    )
    assert {v for _, v in later} == {new_version}
    captured = wait_captured([i for i, _ in later])
    assert set(captured[captured[store.REQUEST_ID].isin([i for i, _ in later])][store.VERSION]) == {
        new_version
    }

    client = mlflow.MlflowClient(tracking_uri=settings.tracking_uri())
    experiment = client.get_experiment_by_name("kfp-ct-monitoring")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 3  # CLI ok, pipeline ok, CLI retrain: the run with no new traffic records nothing
    retrain_run = next(r for r in runs if r.data.tags[lineage.DECISION] == "retrain")
    version = client.get_model_version(MODEL, new_version)
    assert version.tags[lineage.WINDOW_HASH] == retrain_run.data.tags[lineage.WINDOW_HASH]
    watermark = loop["pipeline_ok"].summary["monitor"]["window"]["until"]  # the last run before it
    assert retrain_run.data.tags["kfp_ct.monitor.since"] == watermark
    window_uri = next(v for k, v in version.tags.items() if k == lineage.DATA_URI)
    assert window_uri
    assert os.path.exists(str(settings.home() / "capture" / MODEL / "windows"))
