"""A real KServe model server over a real MLflow model, driven over HTTP (V1 and V2)."""

import subprocess
import sys

import httpx
import mlflow.sklearn
import pytest
from mlflow.models import infer_signature

from kfp_ct.core.estimators import SKOPS_TRUSTED_TYPES
from kfp_ct.core.schema import infer_schema
from kfp_ct.core.train import train_model
from kfp_ct.data.synth import SynthSpec, make_dataset
from kfp_ct.serving.client import infer_v1, infer_v2, wait_ready
from kfp_ct.serving.protocol import frame_to_v2_request
from tests.conftest import free_port


def save_model(path, task="binary", numeric_only=False):
    frame = make_dataset(SynthSpec(rows=600, task=task))
    if numeric_only:
        frame = frame.drop(columns=["region", "plan"])
    schema = infer_schema(frame, "label", task)
    result = train_model(frame, schema, "hist_gradient_boosting", {"max_iter": 30}, seed=0)
    x = frame[result.features]
    mlflow.sklearn.save_model(
        result.model, str(path), signature=infer_signature(x, result.model.predict(x)),
        serialization_format="skops", skops_trusted_types=SKOPS_TRUSTED_TYPES,
    )  # fmt: skip
    return result.model, x


def start_server(name, model_dir):
    """Start `python -m kfp_ct.serving` on a free port; return (process, base URL) once ready."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kfp_ct.serving", f"--model_name={name}", f"--model_dir={model_dir}",
         f"--http_port={port}", "--enable_grpc=false"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, name, 60, process=proc)
    return proc, url


def test_v2_mixed_columns_match_offline(server):
    url, model, x = server
    rows = x.head(25)
    out = infer_v2(url, "churn", rows)
    assert out.predictions == model.predict(rows).tolist()
    assert out.datatype == "INT64"
    assert len(out.probabilities) == 25 and len(out.probabilities[0]) == 2
    assert out.probabilities[0][1] == pytest.approx(model.predict_proba(rows)[0, 1])


def test_v1_records_and_positional(server):
    url, model, x = server
    rows = x.head(3)
    assert infer_v1(url, "churn", rows) == model.predict(rows).tolist()
    body = {"instances": rows.values.tolist()}
    got = httpx.post(f"{url}/v1/models/churn:predict", json=body).json()
    assert got["predictions"] == model.predict(rows).tolist()


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"inputs": [{"name": "age", "shape": [1], "datatype": "FP64", "data": [1.0]}]}, "missing inputs"),
        ({"inputs": "nope"}, "inputs"),
        ({"inputs": [{"name": "age"}]}, "shape"),
    ],
)
def test_v2_malformed_is_400(server, body, fragment):
    url = server[0]
    response = httpx.post(f"{url}/v2/models/churn/infer", json=body)
    # 422 comes from KServe's own request-schema validation, 400 from ours: both name the field.
    assert response.status_code in (400, 422), response.text
    assert fragment in response.text


def test_v2_wrong_type_and_shape_is_400(server):
    url, _, x = server
    body = frame_to_v2_request(x.head(2))
    body["inputs"][0]["data"] = ["old", "young"]
    response = httpx.post(f"{url}/v2/models/churn/infer", json=body)
    assert response.status_code == 400 and "expected numbers" in response.text
    body = frame_to_v2_request(x.head(2))
    body["inputs"][1]["shape"] = [3]
    response = httpx.post(f"{url}/v2/models/churn/infer", json=body)
    assert response.status_code == 400 and "does not match" in response.text
    assert infer_v2(url, "churn", x.head(1)).predictions  # still serving


def test_single_tensor_for_numeric_model(tmp_path):
    model_dir = tmp_path / "num"
    model, x = save_model(model_dir, numeric_only=True)
    proc, url = start_server("num", model_dir)
    try:
        rows = x.head(4)
        body = {"inputs": [{"name": "x", "shape": [4, rows.shape[1]], "datatype": "FP64",
                            "data": rows.values.reshape(-1).tolist()}]}  # fmt: skip
        got = httpx.post(f"{url}/v2/models/num/infer", json=body).json()
        assert got["outputs"][0]["data"] == model.predict(rows).tolist()
    finally:
        proc.terminate()
        proc.wait(10)
