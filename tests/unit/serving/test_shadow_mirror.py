"""The cluster shadow's data path, run here with two real servers on loopback (no cluster).

On a cluster the champion's InferenceService has `KFP_CT_SHADOW_URL` (the shadow's V2 infer URL)
and `<isvc>-shadow` has `KFP_CT_SHADOW_OF` (the champion's model name); both capture into the
same store. The same two processes here: every answer comes from the champion, every answered
request reaches the shadow with its request id, and the store holds both under the champion's
name, the shadow's rows with role `shadow` and its own version (`KFP_CT_MODEL_VERSION`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pandas as pd
import pytest

from kfp_ct import settings
from kfp_ct.capture import store
from kfp_ct.deploy.targets.local import stop_server
from kfp_ct.serving.client import wait_ready
from kfp_ct.serving.protocol import VERSION_HEADER, frame_to_v2_request
from kfp_ct.serving.shadow import v1_url
from tests.conftest import free_port
from tests.unit.serving.test_serving import save_model

NAME = "churn"


def serve(model_dir, name: str, capture_dir, **env: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    environ = {**os.environ, "KFP_CT_CAPTURE_URI": str(capture_dir), "KFP_CT_CAPTURE_FLUSH_S": "0.2", **env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kfp_ct.serving", f"--model_name={name}", f"--model_dir={model_dir}",
         f"--http_port={port}", "--enable_grpc=false"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=environ,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, name, 180, process=proc)
    return proc, url


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("mirror")
    champion_model, x = save_model(root / "champion")
    save_model(root / "shadow", task="binary")
    capture_dir = root / "capture"
    shadow, shadow_url = serve(
        root / "shadow", f"{NAME}-shadow", capture_dir,
        **{settings.SHADOW_OF_ENV: NAME, settings.MODEL_VERSION_ENV: "9"},
    )  # fmt: skip
    try:
        champion, url = serve(
            root / "champion", NAME, capture_dir,
            **{settings.SHADOW_URL_ENV: f"{shadow_url}/v2/models/{NAME}-shadow/infer",
               settings.MODEL_VERSION_ENV: "7"},
        )  # fmt: skip
        try:
            yield url, champion_model, x, capture_dir
        finally:
            stop_server(champion.pid, timeout_s=30)
    finally:
        stop_server(shadow.pid, timeout_s=30)


def test_v1_url_of_a_v2_url():
    assert v1_url("http://s.ns.svc.cluster.local/v2/models/m-shadow/infer") == (
        "http://s.ns.svc.cluster.local/v1/models/m-shadow:predict"
    )
    with pytest.raises(ValueError, match="not a V2 infer URL"):
        v1_url("http://s/v1/models/m:predict")


def test_the_champion_answers_and_the_shadow_gets_every_copy(pair):
    url, _, x, capture_dir = pair
    ids = []
    with httpx.Client(base_url=url, trust_env=False, timeout=30) as client:
        for i in range(30):
            r = client.post(f"/v2/models/{NAME}/infer", json=frame_to_v2_request(x.iloc[[i]]))
            assert r.status_code == 200 and r.headers[VERSION_HEADER] == "7"
            ids.append(r.headers["x-request-id"])
        for i in range(5):
            r = client.post(f"/v1/models/{NAME}:predict", json={"instances": x.iloc[[i]].to_dict("records")})
            assert r.status_code == 200 and r.headers[VERSION_HEADER] == "7"
            ids.append(r.headers["x-request-id"])
        pinned = client.post(f"/v2/models/{NAME}/versions/7/infer", json=frame_to_v2_request(x.iloc[[0]]))
        pinned_id = pinned.headers["x-request-id"]  # a pinned request (a smoke test) is not copied
    deadline = time.monotonic() + 60
    while True:
        frame = store.read_capture(str(capture_dir), NAME) if capture_dir.exists() else pd.DataFrame()
        shadowed = frame[store.is_shadow(frame).to_numpy()] if not frame.empty else frame
        if len(shadowed) >= len(ids) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    answers, copies = frame[~store.is_shadow(frame).to_numpy()], shadowed
    assert set(answers[store.VERSION]) == {"7"} and set(ids) <= set(answers[store.REQUEST_ID])
    assert sorted(copies[store.REQUEST_ID]) == sorted(ids), "every answered request, copied once"
    assert set(copies[store.VERSION]) == {"9"} and set(copies[store.STATUS]) == {200}
    assert pinned_id not in set(copies[store.REQUEST_ID])
    assert store.read_capture(str(capture_dir), f"{NAME}-shadow").empty  # all under the champion's name
    both = answers.merge(copies, on=store.REQUEST_ID, suffixes=("", "_shadow"))
    assert len(both) == len(ids)  # the same ids on both sides: the bake can pair them
