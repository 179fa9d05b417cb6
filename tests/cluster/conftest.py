"""Test doubles for the cluster tests.

`kube_double`: an HTTP-level DOUBLE of the Kubernetes API server with a scripted KServe
controller, built on kmock (a real aiohttp server on 127.0.0.1). The code under test talks to it
through the real `kubernetes` client over HTTP. It stores InferenceServices (create, get, PUT
with resourceVersion conflicts, JSON merge patch, delete, metadata.generation bumps on spec
changes), answers SelfSubjectAccessReviews from a configurable allow-list (and enforces it with
403s), and plays status transitions: after a spec change, the first reads show the old status,
then `InProgress`, then `Ready` (or `BlockedByFailedLoad` for storage URIs marked broken).
It is not a real cluster: no pods run, no traffic splits.

`v2_double`: a tiny V2 inference endpoint on 127.0.0.1 standing in for predictor Services.
The target reaches Service `S` at `http://127.0.0.1:<port>/S`; a Service answers the rule
`predict = int(x0 > 0)` ("good") or its negation ("bad").
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import aiohttp.web
import kmock
import pytest
import yaml

ISVC_GROUP = "serving.kserve.io"
SSAR_PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
ALL_VERBS = frozenset({"get", "list", "create", "update", "patch", "delete"})


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (null deletes)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _status(code: int, reason: str, message: str) -> aiohttp.web.Response:
    body = {"apiVersion": "v1", "kind": "Status", "status": "Failure", "code": code,
            "reason": reason, "message": message}  # fmt: skip
    return aiohttp.web.json_response(body, status=code)


@dataclass
class ClusterState:
    """What the double stores and how its scripted controller behaves."""

    allowed_verbs: set[str] = field(default_factory=lambda: set(ALL_VERBS))
    broken_uris: set[str] = field(default_factory=set)  # fail to load: BlockedByFailedLoad
    stuck_uris: set[str] = field(default_factory=set)  # never become ready
    reads_per_phase: int = 1  # reads showing the old status, then InProgress, then the result
    objects: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    reads_since_change: dict[tuple[str, str], int] = field(default_factory=dict)
    writes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (verb, spec)
    ssar_verbs: list[str] = field(default_factory=list)
    resource_version: int = 0

    def next_rv(self) -> str:
        self.resource_version += 1
        return str(self.resource_version)

    def storage_uris(self, obj: dict[str, Any]) -> list[str]:
        spec = obj["spec"]
        uris = [spec["predictor"]["model"]["storageUri"]]
        uris += [c["predictor"]["model"]["storageUri"] for c in spec.get("canary") or []]
        return uris

    def reconcile(self, key: tuple[str, str]) -> None:
        """The scripted controller: advance status one phase per read after a spec change."""
        obj = self.objects[key]
        reads = self.reads_since_change.get(key, 0) + 1
        self.reads_since_change[key] = reads
        gen = obj["metadata"]["generation"]
        if reads <= self.reads_per_phase:
            return  # the controller has not seen the change yet
        uris = self.storage_uris(obj)
        stuck = any(u in self.stuck_uris for u in uris)
        if reads <= 2 * self.reads_per_phase or stuck:
            status = {
                "observedGeneration": gen,
                "conditions": [{"type": "Ready", "status": "False", "reason": "InProgress",
                                "message": "Revision is progressing"}],
                "modelStatus": {"transitionStatus": "InProgress",
                                "states": {"activeModelState": "Loading"}},
            }  # fmt: skip
        elif any(u in self.broken_uris for u in uris):
            broken = next(u for u in uris if u in self.broken_uris)
            status = {
                "observedGeneration": gen,
                "conditions": [{"type": "Ready", "status": "False", "reason": "ModelLoadFailed"}],
                "modelStatus": {
                    "transitionStatus": "BlockedByFailedLoad",
                    "states": {"activeModelState": "FailedToLoad"},
                    "lastFailureInfo": {
                        "reason": "ModelLoadFailed",
                        "message": f"storage-initializer: failed to download {broken}: NoSuchKey",
                    },
                },
            }
        else:
            conditions = [
                {"type": "Ready", "status": "True"},
                {"type": "PredictorReady", "status": "True"},
            ]
            status = {
                "observedGeneration": gen,
                "conditions": conditions,
                "modelStatus": {"transitionStatus": "UpToDate",
                                "states": {"activeModelState": "Loaded"}},
                "url": f"http://{obj['metadata']['name']}.example.com",
            }  # fmt: skip
            if obj["spec"].get("canary"):
                canary = obj["spec"]["canary"][0]
                conditions.append({"type": "CanaryPredictorReady", "status": "True"})
                status["canaryStatuses"] = [
                    {"name": canary["predictor"]["name"], "ready": True,
                     "trafficPercent": canary["trafficPercent"],
                     "modelStatus": {"transitionStatus": "UpToDate"}},
                ]  # fmt: skip
        if obj.get("status") != status:
            obj["status"] = status
            obj["metadata"]["resourceVersion"] = self.next_rv()  # status writes bump it too


class KubeDouble(kmock.KubernetesScaffold):
    """kmock's Kubernetes scaffold (discovery, errors) plus InferenceServices and SSARs."""

    state: ClusterState

    def _forbidden(self, verb: str, namespace: str | None) -> aiohttp.web.Response | None:
        if verb in self.state.allowed_verbs:
            return None
        return _status(
            403, "Forbidden",
            f'inferenceservices.serving.kserve.io is forbidden: User "system:serviceaccount:'
            f'kubeflow:pipeline-runner" cannot {verb} resource "inferenceservices" in API group '
            f'"serving.kserve.io" in the namespace "{namespace}"',
        )  # fmt: skip

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        method = request.method.value
        if request.url.path == SSAR_PATH and method == "POST":
            attrs = request.data["spec"]["resourceAttributes"]
            self.state.ssar_verbs.append(attrs["verb"])
            allowed = attrs["group"] == ISVC_GROUP and attrs["verb"] in self.state.allowed_verbs
            return aiohttp.web.json_response({**request.data, "status": {"allowed": allowed}}, status=201)
        res = request.resource
        if res is None or res.group != ISVC_GROUP or res.plural != "inferenceservices":
            return await super()._handle(request)
        return self._isvc(method, request)

    def _isvc(self, method: str, request: kmock.Request) -> aiohttp.web.StreamResponse:
        state, ns = self.state, request.namespace
        verb = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch",
                "DELETE": "delete"}[method]  # fmt: skip
        if (denied := self._forbidden(verb, ns)) is not None:
            return denied
        if method == "POST":
            body = copy.deepcopy(request.data)
            key = (ns, body["metadata"]["name"])
            if key in state.objects:
                return _status(409, "AlreadyExists", f"{key[1]} already exists")
            body["metadata"].update(generation=1, resourceVersion=state.next_rv(), uid="uid-1")
            state.objects[key] = body
            state.reads_since_change[key] = 0
            state.writes.append(("create", copy.deepcopy(body["spec"])))
            return aiohttp.web.json_response(body, status=201)
        key = (ns, request.name)
        if key not in state.objects:
            return _status(404, "NotFound", f'inferenceservices "{request.name}" not found')
        obj = state.objects[key]
        if method == "GET":
            state.reconcile(key)
            return aiohttp.web.json_response(obj)
        if method == "DELETE":
            del state.objects[key]
            state.writes.append(("delete", {}))
            return aiohttp.web.json_response({"kind": "Status", "status": "Success"})
        if method == "PUT":
            body = copy.deepcopy(request.data)
            if body["metadata"].get("resourceVersion") != obj["metadata"]["resourceVersion"]:
                return _status(409, "Conflict", "the object has been modified; please retry")
            new = {**body, "status": obj.get("status", {})}
        else:  # PATCH, merge patch only (what the client sends for custom objects)
            assert "merge-patch" in request.headers.get("Content-Type", ""), request.headers
            new = merge_patch(obj, request.data)
        new["metadata"]["uid"] = obj["metadata"]["uid"]
        new["metadata"]["generation"] = obj["metadata"]["generation"]
        if new["spec"] != obj["spec"]:
            new["metadata"]["generation"] += 1
            state.reads_since_change[key] = 0
        new["metadata"]["resourceVersion"] = state.next_rv()
        state.objects[key] = new
        state.writes.append((verb, copy.deepcopy(new["spec"])))
        return aiohttp.web.json_response(new)


@pytest.fixture
def kube_double() -> Iterator[tuple[Any, ClusterState]]:
    """(kubernetes ApiClient pointed at the double, its state)."""
    from kubernetes import client

    state = ClusterState()
    ready = threading.Event()
    holder: dict[str, Any] = {}
    loop = asyncio.new_event_loop()

    async def serve() -> None:
        handler = KubeDouble()
        handler.state = state
        stop = asyncio.Event()
        holder["stop"] = stop
        async with handler, kmock.Server(handler) as server:
            holder["url"] = str(server.url).rstrip("/")
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=lambda: loop.run_until_complete(serve()), daemon=True)
    thread.start()
    assert ready.wait(10), "the API double did not start"
    configuration = client.Configuration()
    configuration.host = holder["url"]
    api_client = client.ApiClient(configuration)
    try:
        yield api_client, state
    finally:
        api_client.close()
        loop.call_soon_threadsafe(holder["stop"].set)
        thread.join(10)
        loop.close()


@dataclass
class V2Double:
    """Where the V2 double listens, how each Service answers, and who was asked."""

    base: str
    behaviour: dict[str, str] = field(default_factory=dict)  # service -> good | bad
    hits: list[str] = field(default_factory=list)

    @property
    def template(self) -> str:
        return self.base + "/{service}"


@pytest.fixture
def v2_double() -> Iterator[V2Double]:
    """A V2 inference endpoint on 127.0.0.1 for every predictor Service."""
    double = V2Double(base="")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            parts = self.path.strip("/").split("/")
            # /<service>/v2/models/<model>/infer
            service, model = parts[0], parts[3]
            double.hits.append(service)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            columns = {i["name"]: i["data"] for i in body["inputs"]}
            preds = [int(x > 0) for x in columns["x0"]]
            if double.behaviour.get(service, "good") == "bad":
                preds = [1 - p for p in preds]
            output = {"name": "predict", "shape": [len(preds)], "datatype": "INT64", "data": preds}
            out = {"model_name": model, "id": body.get("id") or "1", "outputs": [output]}
            data = json.dumps(out).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    double.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield double
    finally:
        server.shutdown()
        server.server_close()


def schema_dir() -> Path:
    """The KServe v0.20 CRDs: $KFP_CT_KSERVE_SCHEMAS or ../shared/schemas/kserve-v0.20/."""
    env = os.environ.get("KFP_CT_KSERVE_SCHEMAS")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "shared/schemas/kserve-v0.20"


def unknown_fields(obj: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Fields the API server would prune or reject as unknown (schemas list `properties`)."""
    found: list[str] = []
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return found
    if isinstance(obj, dict) and "properties" in schema:
        for key, value in obj.items():
            if key not in schema["properties"]:
                if not schema.get("additionalProperties"):
                    found.append(f"{path}.{key}")
                continue
            found += unknown_fields(value, schema["properties"][key], f"{path}.{key}")
    elif isinstance(obj, dict) and isinstance(schema.get("additionalProperties"), dict):
        for key, value in obj.items():
            found += unknown_fields(value, schema["additionalProperties"], f"{path}.{key}")
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(obj):
            found += unknown_fields(item, schema["items"], f"{path}[{i}]")
    return found


@pytest.fixture(scope="session")
def isvc_schema() -> dict[str, Any]:
    """openAPIV3Schema of the InferenceService CRD (KServe v0.20)."""
    path = schema_dir() / "serving.kserve.io_inferenceservices.yaml"
    if not path.is_file():
        pytest.fail(f"KServe CRD schema not found at {path}; set KFP_CT_KSERVE_SCHEMAS")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    crd = yaml.load(path.read_text(), Loader=loader)
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


@pytest.fixture(scope="session")
def isvc_validator(isvc_schema: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    """validate(obj): raise on any schema error or unknown field."""
    import jsonschema

    validator = jsonschema.Draft7Validator(isvc_schema)

    def validate(obj: dict[str, Any]) -> None:
        errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.path))
        problems = [f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors]
        problems += [f"{f}: unknown field" for f in unknown_fields(obj, isvc_schema)]
        if problems:
            raise AssertionError("InferenceService does not match the v0.20 CRD:\n" + "\n".join(problems))

    return validate
