"""The serving pieces in process, no server: specs, routing, reconcile, codecs, pickling."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import tritonclient.http as triton
from fastapi.exceptions import RequestValidationError
from kserve.errors import InvalidInput, ModelNotReady

from kfp_ct.errors import PayloadError
from kfp_ct.serving.model import SklearnMlflowModel
from kfp_ct.serving.protocol import check_v2_request, frame_to_v2_request
from kfp_ct.serving.repository import DeploymentRepository, LoadFailed
from kfp_ct.serving.rest import decode_v2, encode_v2
from kfp_ct.serving.router import AllTo, Deployment, RouteTable, VersionNotLoaded
from kfp_ct.serving.server import validation_error_handler
from kfp_ct.serving.spec import DeploymentSpec, read_spec, remove_spec, spec_names, write_spec
from tests.unit.serving.test_serving import save_model


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("units")
    out = {}
    for version in ("1", "2"):
        model, x = save_model(root / f"v{version}")
        out[version] = (root / f"v{version}", model, x)
    return out


def loaded(saved, version: str) -> SklearnMlflowModel:
    model = SklearnMlflowModel("churn", saved[version][0], version)
    model.load()
    return model


# ---------------------------------------------------------------- spec
def test_spec_round_trip_and_generations(tmp_path):
    spec = DeploymentSpec("churn").with_version("1", "/m/1").with_version("2", "/m/2").routed_to("2", {"1"})
    assert spec.serving == "2" and set(spec.versions) == {"1", "2"}
    first = write_spec(tmp_path, spec)
    second = write_spec(tmp_path, spec.routed_to("2"))
    assert (first.generation, second.generation) == (1, 2)
    assert read_spec(tmp_path, "churn") == second and second.versions == {"2": "/m/2"}
    assert spec_names(tmp_path) == ["churn"]
    remove_spec(tmp_path, "churn")
    assert read_spec(tmp_path, "churn") is None and spec_names(tmp_path) == []


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda: DeploymentSpec("../etc"), "must match"),
        (lambda: DeploymentSpec("m", {"1": "/a"}, {"policy": "single", "version": "2"}), "not among"),
        (lambda: DeploymentSpec("m", {"1": "/a"}, {"policy": "canary", "version": "1"}), "unknown routing"),
        (lambda: DeploymentSpec.from_json("[1]"), "not a deployment spec"),
    ],
)
def test_spec_refuses_what_it_cannot_serve(make, fragment):
    with pytest.raises(PayloadError, match=fragment):
        make()


# ---------------------------------------------------------------- routing
def test_route_table_swap_is_one_step_and_pins_versions(saved):
    v1, v2 = loaded(saved, "1"), loaded(saved, "2")
    deployment = Deployment("churn")
    assert not deployment.ready
    with pytest.raises(ModelNotReady):
        deployment.select()
    with pytest.raises(VersionNotLoaded, match="no loaded version '1'"):
        deployment.select("1")
    deployment.swap(RouteTable({"1": v1}, AllTo("1")))
    assert deployment.ready and deployment.select() is v1 and deployment.serving == "1"
    old = deployment.swap(RouteTable({"1": v1, "2": v2}, AllTo("2")))
    assert old.policy == AllTo("1") and deployment.select() is v2 and deployment.select("1") is v1
    with pytest.raises(ValueError, match="routes to"):
        RouteTable({"1": v1}, AllTo("2"))


# ---------------------------------------------------------------- reconcile
def test_reconcile_loads_swaps_drops_and_survives_a_bad_version(saved, tmp_path):
    repo_dir = tmp_path / "repo"
    repo = DeploymentRepository(repo_dir)
    spec = DeploymentSpec("churn").with_version("1", str(saved["1"][0])).routed_to("1")
    write_spec(repo_dir, spec)
    deployment = repo.reconcile("churn")
    first = deployment.select()
    assert deployment.serving == "1" and repo.get_model("churn") is deployment
    write_spec(repo_dir, spec.with_version("2", str(saved["2"][0])))
    repo.reconcile("churn")
    assert deployment.select() is first and set(deployment.table.versions) == {"1", "2"}  # kept, not reloaded
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "MLmodel").write_text("not: [an mlflow model")
    write_spec(repo_dir, read_spec(repo_dir, "churn").with_version("3", str(broken)).routed_to("3"))
    with pytest.raises(LoadFailed, match="v3 could not be loaded"):
        repo.reconcile("churn")
    assert deployment.serving == "1" and set(deployment.table.versions) == {"1", "2"}
    write_spec(repo_dir, spec.with_version("2", str(saved["2"][0])).routed_to("2"))
    assert repo.poll() == ["churn"] and deployment.serving == "2" and set(deployment.table.versions) == {"2"}
    assert repo.poll() == []  # nothing changed since
    remove_spec(repo_dir, "churn")
    assert repo.poll() == ["churn"] and repo.get_model("churn") is None


def test_loaded_models_and_repository_pickle(saved, tmp_path):
    """KServe's `--workers N` pickles the REST server with its repository and models."""
    repo_dir = tmp_path / "repo"
    write_spec(repo_dir, DeploymentSpec("churn").with_version("1", str(saved["1"][0])).routed_to("1"))
    repo = DeploymentRepository(repo_dir)
    repo.load_models()
    repo.start_watching(interval_s=30)
    copy = pickle.loads(pickle.dumps(repo))
    _, model, x = saved["1"]
    request = decode_v2(json.dumps(frame_to_v2_request(x.head(5))).encode(), {}, "churn", None)
    outputs = copy.deployment("churn").select().infer_outputs(request)
    assert outputs[0].data == model.predict(x.head(5)).tolist()
    assert copy.directory == repo_dir and copy._watching_pid is None  # the watcher stays behind


# ---------------------------------------------------------------- codecs
def test_decode_binary_request_as_tritonclient_writes_it(saved):
    _, model, x = saved["1"]
    rows = x.head(3)
    inputs = []
    for column in rows.columns:
        kind = {"f": "FP64", "i": "INT64"}.get(rows[column].dtype.kind, "BYTES")
        item = triton.InferInput(column, [3], kind)
        values = rows[column].to_numpy()
        item.set_data_from_numpy(values.astype(object) if kind == "BYTES" else values, binary_data=True)
        inputs.append(item)
    outputs = [triton.InferRequestedOutput("predict", binary_data=True)]
    body, json_size = triton.InferenceServerClient.generate_request_body(inputs, outputs=outputs)
    request = decode_v2(body, {"inference-header-content-length": str(json_size)}, "churn", None)
    v1 = loaded(saved, "1")
    answer, headers = encode_v2(request, v1, v1.infer_outputs(request))
    length = int(headers["inference-header-content-length"])
    head = json.loads(answer[:length])
    assert [o["name"] for o in head["outputs"]] == ["predict"] and head["model_version"] == "1"
    assert np.frombuffer(answer[length:], dtype=np.int64).tolist() == model.predict(rows).tolist()


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ([1], "JSON object"),
        ({"inputs": []}, "non-empty list"),
        ({"id": 5, "inputs": [{}]}, "'id' must be a string"),
        ({"inputs": [{"name": "a", "shape": [1], "datatype": "FP64"}]}, "'data'"),
        ({"inputs": [{"name": 1, "shape": [1], "datatype": "FP64", "data": [1]}]}, "must be a string"),
        ({"inputs": [{"name": "a", "shape": [20001], "datatype": "FP64", "data": [1]}]}, "the limit is"),
        ({"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": 1}]}, "'data' must be a list"),
        (
            {"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": [1]}], "outputs": [3]},
            "outputs",
        ),
    ],
)
def test_check_v2_request_names_the_problem(body, fragment):
    with pytest.raises(PayloadError, match=fragment):
        check_v2_request(body)


def test_unknown_output_and_non_json_body(saved):
    v1 = loaded(saved, "1")
    body = frame_to_v2_request(saved["1"][2].head(1))
    body["outputs"] = [{"name": "proba"}]
    with pytest.raises(InvalidInput, match="unknown outputs"):
        v1.infer_outputs(decode_v2(json.dumps(body).encode(), {}, "churn", None))
    with pytest.raises(PayloadError, match="not valid JSON"):
        decode_v2(b'{"inputs": Infinity}', {}, "churn", None)


def test_validation_errors_with_infinity_answer_400():
    import asyncio

    exc = RequestValidationError(
        [{"loc": ("body", "inputs"), "msg": "bad", "type": "x", "input": float("inf")}]
    )
    response = asyncio.run(validation_error_handler(None, exc))
    assert response.status_code == 400 and b"invalid request: body.inputs: bad" in response.body
