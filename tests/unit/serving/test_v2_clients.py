"""Clients nobody here wrote, against the project's server: tritonclient (JSON and binary), gRPC.

Also what `curl -d` sends (JSON with no JSON content type), `outputs` selecting what comes back,
and a `--workers 2` server whose two worker processes both answer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import httpx
import numpy as np
import pandas as pd
import pytest
import tritonclient.http as triton
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc as pb_grpc

from kfp_ct.capture import store
from kfp_ct.deploy.targets.local import stop_server
from kfp_ct.serving.client import wait_ready
from kfp_ct.serving.protocol import VERSION_HEADER, frame_to_v2_request
from tests.conftest import free_port
from tests.unit.serving.test_serving import save_model

NAME = "churn"
NUMPY = {"FP64": np.float64, "FP32": np.float32, "INT64": np.int64, "INT32": np.int32, "BOOL": np.bool_}


def start(model_dir: Path, *flags: str) -> tuple[subprocess.Popen, str, int]:
    """`python -m kfp_ct.serving` on one model (the ServingRuntime's mode); (process, URL, gRPC port).

    Captured traffic goes to `<model_dir>/../capture`, written every 0.2 s.
    """
    port, grpc_port = free_port(), free_port()
    capture = {"KFP_CT_CAPTURE_URI": str(model_dir.parent / "capture"), "KFP_CT_CAPTURE_FLUSH_S": "0.2"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kfp_ct.serving", f"--model_name={NAME}", f"--model_dir={model_dir}",
         "--model_version=7", f"--http_port={port}", f"--grpc_port={grpc_port}", *flags],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, cwd=model_dir.parent,
        env={**os.environ, **capture},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, NAME, 180, process=proc)
    return proc, url, grpc_port


def stop(proc: subprocess.Popen) -> None:
    stop_server(proc.pid, timeout_s=30)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("clients") / "model"
    model, x = save_model(model_dir)
    proc, url, grpc_port = start(model_dir, "--enable_grpc=true")
    try:
        yield url, grpc_port, model, x, model_dir.parent / "capture"
    finally:
        stop(proc)


def triton_inputs(meta: dict, rows, binary: bool) -> list:
    out = []
    for spec in meta["inputs"]:
        values = rows[spec["name"]].to_numpy()
        array = (
            values.astype(object) if spec["datatype"] == "BYTES" else values.astype(NUMPY[spec["datatype"]])
        )
        item = triton.InferInput(spec["name"], [len(rows)], spec["datatype"])
        item.set_data_from_numpy(array, binary_data=binary)
        out.append(item)
    return out


def test_tritonclient_reads_metadata(served):
    url, _, _, x, _ = served
    client = triton.InferenceServerClient(url=url.removeprefix("http://"))
    assert client.is_server_ready() and client.is_model_ready(NAME)
    meta = client.get_model_metadata(NAME)
    assert meta["name"] == NAME and meta["versions"] == ["7"]
    assert [(i["name"], i["shape"]) for i in meta["inputs"]] == [(c, [-1]) for c in x.columns]
    kinds = {i["name"]: i["datatype"] for i in meta["inputs"]}
    assert kinds["age"] == "FP64" and kinds["num_products"] == "INT64" and kinds["region"] == "BYTES"
    assert meta["outputs"] == [
        {"name": "predict", "datatype": "INT64", "shape": [-1]},
        {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 2]},
    ]


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_tritonclient_infers(served, binary):
    url, _, model, x, _ = served
    client = triton.InferenceServerClient(url=url.removeprefix("http://"))
    meta = client.get_model_metadata(NAME)
    rows = x.head(6)
    result = client.infer(
        NAME,
        triton_inputs(meta, rows, binary),
        outputs=[triton.InferRequestedOutput(n, binary_data=binary) for n in ("predict", "predict_proba")],
    )
    assert result.as_numpy("predict").tolist() == model.predict(rows).tolist()
    np.testing.assert_allclose(result.as_numpy("predict_proba"), model.predict_proba(rows), rtol=1e-12)
    assert result.get_response()["model_version"] == "7"


def test_tritonclient_selects_one_output_and_pins_the_version(served):
    url, _, _, x, _ = served
    client = triton.InferenceServerClient(url=url.removeprefix("http://"))
    meta = client.get_model_metadata(NAME)
    rows = x.head(3)
    result = client.infer(
        NAME,
        triton_inputs(meta, rows, False),
        outputs=[triton.InferRequestedOutput("predict_proba", binary_data=False)],
        model_version="7",
    )
    assert [o["name"] for o in result.get_response()["outputs"]] == ["predict_proba"]
    assert result.as_numpy("predict") is None


def test_json_without_content_type_and_output_selection(served):
    url, _, model, x, _ = served
    body = frame_to_v2_request(x.head(2))
    raw = json.dumps(body).encode()
    for headers in (
        {},
        {"content-type": "application/x-www-form-urlencoded"},
        {"content-type": "text/plain"},
    ):
        r = httpx.post(f"{url}/v2/models/{NAME}/infer", content=raw, headers=headers, trust_env=False)
        assert r.status_code == 200, (headers, r.text)
        assert [o["name"] for o in r.json()["outputs"]] == ["predict", "predict_proba"]
        assert r.headers[VERSION_HEADER] == "7"
    body["outputs"] = [{"name": "predict"}]
    r = httpx.post(f"{url}/v2/models/{NAME}/infer", json=body, trust_env=False)
    assert [o["name"] for o in r.json()["outputs"]] == ["predict"]
    assert r.json()["outputs"][0]["data"] == model.predict(x.head(2)).tolist()
    body["outputs"] = [{"name": "nope"}]
    r = httpx.post(f"{url}/v2/models/{NAME}/infer", json=body, trust_env=False)
    assert r.status_code == 400 and "unknown outputs ['nope']" in r.json()["error"]


def _grpc_request(rows, version: str = "") -> pb.ModelInferRequest:
    tensors = []
    for column in rows.columns:
        values = rows[column].tolist()
        if rows[column].dtype.kind == "f":
            kind, contents = "FP64", pb.InferTensorContents(fp64_contents=values)
        elif rows[column].dtype.kind in "iu":
            kind, contents = "INT64", pb.InferTensorContents(int64_contents=values)
        else:
            kind, contents = "BYTES", pb.InferTensorContents(bytes_contents=[v.encode() for v in values])
        tensors.append(
            pb.ModelInferRequest.InferInputTensor(
                name=column, datatype=kind, shape=[len(rows)], contents=contents
            )
        )
    return pb.ModelInferRequest(model_name=NAME, model_version=version, inputs=tensors)


def test_grpc_infer_and_metadata(served):
    _, grpc_port, model, x, _ = served
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        rows = x.head(4)
        answer = stub.ModelInfer(_grpc_request(rows), timeout=30)
        assert answer.model_version == "7"
        outputs = {o.name: o for o in answer.outputs}
        assert list(outputs["predict"].contents.int64_contents) == model.predict(rows).tolist()
        pinned = stub.ModelInfer(_grpc_request(rows, version="7"), timeout=30)
        assert pinned.model_version == "7"
        meta = stub.ModelMetadata(pb.ModelMetadataRequest(name=NAME), timeout=30)
        assert [i.name for i in meta.inputs] == list(x.columns)
        with pytest.raises(grpc.RpcError) as info:
            stub.ModelInfer(_grpc_request(rows, version="9"), timeout=30)
        assert "no loaded version '9'" in info.value.details()


def test_grpc_requests_are_captured_like_rest(served):
    """Each ModelInfer is one capture record: its id (body, else metadata), version, rows, status."""
    _, grpc_port, model, x, capture_dir = served
    rows = x.head(3)
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        by_body = _grpc_request(rows)
        by_body.id = "grpc-body-id"
        assert stub.ModelInfer(by_body, timeout=30).id == "grpc-body-id"
        answer = stub.ModelInfer(_grpc_request(rows), metadata=[("x-request-id", "grpc-id")], timeout=30)
        assert answer.id == "grpc-id"
        generated = stub.ModelInfer(_grpc_request(rows), timeout=30).id
        refused = _grpc_request(rows, version="9")
        refused.id = "grpc-refused"
        with pytest.raises(grpc.RpcError):
            stub.ModelInfer(refused, timeout=30)
    wanted = {"grpc-body-id", "grpc-id", generated, "grpc-refused"}
    deadline = time.monotonic() + 30
    while True:
        frame = store.read_capture(str(capture_dir), NAME) if capture_dir.exists() else pd.DataFrame()
        if not frame.empty and wanted <= set(frame[store.REQUEST_ID]):
            break
        assert time.monotonic() < deadline, "the gRPC requests were not captured within 30 s"
        time.sleep(0.2)
    ours = frame[frame[store.REQUEST_ID].isin(wanted)]
    answered = ours[ours[store.STATUS] == 200]
    assert len(answered) == 9 and set(answered[store.VERSION]) == {"7"}  # 3 requests x 3 rows
    assert set(answered[store.PROTOCOL]) == {"grpc"}
    header_rows = answered[answered[store.REQUEST_ID] == "grpc-id"].sort_values(store.ROW)
    assert header_rows[store.PREDICTION].astype(int).tolist() == model.predict(rows).tolist()
    assert np.allclose(header_rows[rows.columns[0]].astype(float), rows[rows.columns[0]].astype(float))
    refused_rows = ours[ours[store.REQUEST_ID] == "grpc-refused"]  # gRPC INVALID_ARGUMENT: 400
    assert refused_rows[store.STATUS].tolist() == [400]
    assert "no loaded version" in refused_rows[store.ERROR].iloc[0]


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"spawn_main" in cmdline:
            out.append(int(entry))
    return sorted(out)


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_two_workers_both_answer(tmp_path):
    model_dir = tmp_path / "model"
    model, x = save_model(model_dir)
    proc, url, _ = start(model_dir, "--workers=2", "--enable_grpc=false")
    try:
        deadline = time.monotonic() + 120
        while len(workers := _children(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(workers) == 2, workers
        for _ in range(2):  # each worker answers readiness before the load starts
            wait_ready(url, NAME, 120)
        before = {w: _cpu_s(w) for w in workers}
        body = frame_to_v2_request(x.head(50))

        def burst(_: int) -> list[int]:
            codes = []
            for _ in range(15):  # a new connection each time: the kernel hands them to both workers
                r = httpx.post(f"{url}/v2/models/{NAME}/infer", json=body, trust_env=False, timeout=30)
                codes.append(r.status_code)
                assert r.json()["outputs"][0]["data"] == model.predict(x.head(50)).tolist()
            return codes

        with ThreadPoolExecutor(6) as pool:
            codes = [c for part in pool.map(burst, range(6)) for c in part]
        assert codes == [200] * 90
        used = {w: _cpu_s(w) - before[w] for w in workers}
        assert all(seconds > 0.05 for seconds in used.values()), used  # both served requests
        assert _children(proc.pid) == workers  # none was killed and respawned meanwhile
    finally:
        stop(proc)
