"""The project's V2 REST routes, mounted in front of KServe's own in the same FastAPI app.

KServe 0.21's V2 handler validates every body with pydantic, converts it twice (pydantic model,
then `InferRequest`), converts every output list to numpy and back, answers 501 for a version
route, treats a JSON body without `Content-Type: application/json` as binary, and answers 500
when its 422 handler meets a bare `Infinity`. These plain Starlette routes do the same job
once: orjson parses the body (JSON whatever the content type, unless the binary extension's
`Inference-Header-Content-Length` says otherwise), `check_v2_request` checks its shape, the
`Deployment` picks the version, and the JSON answer is written straight from the outputs.
Every answer names the version (`model_version`, header `X-Model-Version`) and the request id
(`id`, header `X-Request-Id`: the V2 `id`, else the `X-Request-Id` or `Ce-Id` header, else a new
one). V1 `:predict` is answered here too, so that both protocols are captured
(`kfp_ct.capture.recorder`): each answered or refused request is one `Record` of references,
queued for the capture writer thread after the response body is built. When the route is a
shadow, a copy of each answered (unpinned) request is queued for the shadow version after the
response is sent (`kfp_ct.serving.shadow`, bounded, never waited for).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

import orjson
from kserve.errors import InvalidInput, ModelNotFound, ModelNotReady
from kserve.metrics import PREDICT_HIST_TIME
from kserve.protocol.infer_type import InferInput, InferRequest, InferResponse, RequestedOutput
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kfp_ct.capture import recorder as capture
from kfp_ct.errors import PayloadError
from kfp_ct.serving import metrics
from kfp_ct.serving.protocol import BINARY_HEADER, VERSION_HEADER, check_v2_request
from kfp_ct.serving.repository import DeploymentRepository, LoadFailed
from kfp_ct.serving.router import VersionNotLoaded
from kfp_ct.serving.shadow import Mirror, ShadowSender

log = logging.getLogger(__name__)
JSON = "application/json"
REQUEST_ID_HEADER = "X-Request-Id"
MIRRORED_HEADERS = ("content-type", BINARY_HEADER.lower())  # how a copy's body reads


def status_of(exc: Exception) -> int:
    """The HTTP status of a request that raised `exc`: 400, 404 or 503 as the error says, else 500."""
    if isinstance(exc, PayloadError | InvalidInput):
        return 400
    if isinstance(exc, ModelNotFound | VersionNotLoaded):
        return 404
    if isinstance(exc, ModelNotReady):
        return 503
    return 500


def _failure(exc: Exception, what: str) -> Response:
    """The answer to a request that raised (a 500 is logged with its traceback)."""
    status = status_of(exc)
    if status != 500:
        return _error(status, str(exc))
    log.exception("%s failed", what)
    return _error(500, f"{type(exc).__name__}: {exc}")


def _error(status: int, message: str) -> Response:
    return Response(orjson.dumps({"error": message}), status_code=status, media_type=JSON)


def _loads(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise PayloadError(
            f"the body is not valid JSON ({exc}); a binary body needs the {BINARY_HEADER} header"
        ) from None


def decode_v2(body: bytes, headers: Any, model_name: str, version: str | None) -> InferRequest:
    """A V2 REST body (JSON, or JSON + binary tensors) as a KServe InferRequest."""
    header = headers.get(BINARY_HEADER)
    if header is not None:
        if not header.isdigit() or int(header) > len(body):
            raise PayloadError(f"{BINARY_HEADER} {header[:20]!r} is not a length within the body")
        check_v2_request(_loads(body[: int(header)]), binary=True)
        try:
            request = InferRequest.from_bytes(body, int(header), model_name)
        except InvalidInput:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise PayloadError(f"binary tensors do not match their description: {exc}") from None
        request.model_version = version
        return request
    obj = _loads(body)
    check_v2_request(obj)
    inputs = [
        InferInput(i["name"], i["shape"], i["datatype"], i["data"], i.get("parameters"))
        for i in obj["inputs"]
    ]
    outputs = obj.get("outputs")
    return InferRequest(
        model_name,
        inputs,
        request_id=obj.get("id"),
        parameters=obj.get("parameters"),
        request_outputs=[RequestedOutput(o["name"], o.get("parameters")) for o in outputs]
        if outputs
        else None,
        model_version=version,
    )


def _wants_binary(request: InferRequest) -> bool:
    if request.request_outputs:
        return any(o.binary_data for o in request.request_outputs)
    return bool(request.use_binary_outputs)


def encode_v2(request: InferRequest, model: Any, outputs: list) -> tuple[bytes, dict[str, str]]:
    """The response body and headers; JSON written directly unless binary outputs were asked."""
    response_id = request.id or str(uuid.uuid4())
    headers = {VERSION_HEADER: str(model.version)}
    if _wants_binary(request):
        body, json_length = InferResponse(
            response_id,
            model.name,
            outputs,
            model_version=model.version,
            use_binary_outputs=request.use_binary_outputs,
            requested_outputs=request.request_outputs,
        ).to_rest()
        if json_length is not None:
            headers[BINARY_HEADER] = str(json_length)
            return body, headers
        return orjson.dumps(body), headers
    out = []
    for o in outputs:
        item = {"name": o.name, "shape": o.shape, "datatype": o.datatype, "data": o.data}
        if o.parameters:
            item["parameters"] = o.parameters
        out.append(item)
    body = {"id": response_id, "model_name": model.name, "model_version": model.version, "outputs": out}
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY), headers


def account(
    clock: tuple[float, float],
    rid: str,
    name: str,
    version: str,
    status: int,
    record: tuple | None,
    error: str | None = None,
) -> None:
    """Capture one answered or refused request and count it on `/metrics` (REST and gRPC alike).

    `clock` is (perf_counter, time) when the request arrived; `record` (kind, inputs, outputs,
    features) the answered request's references, None for a refused one.
    """
    capture.capture(clock, rid, name, version, status, record, error)
    metrics.observe(name, version, status, time.perf_counter() - clock[0], record)


class V2Routes:
    """Inference, metadata and repository routes over a `DeploymentRepository`."""

    def __init__(
        self,
        repository: DeploymentRepository,
        shadow: ShadowSender | None = None,
        mirror: Mirror | None = None,
    ) -> None:
        self.repository = repository
        self.shadow = shadow or ShadowSender()
        self.mirror = mirror or Mirror.from_env()  # a cluster champion's shadow InferenceService

    def routes(self) -> list[Route]:
        """Starlette routes, to be placed before KServe's own."""
        return [
            Route("/v2/models/{model_name}/infer", self.infer, methods=["POST"]),
            Route("/v1/models/{model_name}:predict", self.predict_v1, methods=["POST"]),
            Route("/v2/models/{model_name}/versions/{model_version}/infer", self.infer, methods=["POST"]),
            Route("/v2/models/{model_name}", self.metadata, methods=["GET"]),
            Route("/v2/models/{model_name}/versions/{model_version}", self.metadata, methods=["GET"]),
            Route(
                "/v2/models/{model_name}/versions/{model_version}/ready", self.version_ready, methods=["GET"]
            ),
            Route("/v2/repository/models/{model_name}/load", self.load, methods=["POST"]),
        ]

    async def infer(self, request: Request) -> Response:
        """`POST /v2/models/<m>[/versions/<v>]/infer`."""
        started, now = time.perf_counter(), time.time()
        name = request.path_params["model_name"]
        pinned = request.path_params.get("model_version")
        version = pinned or "-"
        rid, record, shadow = None, None, None
        try:
            raw = await request.body()
            deployment = self.repository.deployment(name)
            model = deployment.select(pinned)  # no await from here on
            shadow = None if pinned else deployment.shadow
            version = str(model.version)
            infer_request = decode_v2(raw, request.headers, name, pinned)
            rid = infer_request.id = capture.request_id(infer_request.id, request.headers)
            start = time.perf_counter()
            outputs = model.infer_outputs(infer_request)
            PREDICT_HIST_TIME.labels(name).observe(time.perf_counter() - start)
            body, headers = encode_v2(infer_request, model, outputs)
            record = ("v2", infer_request.inputs, outputs, None)
        except Exception as exc:
            response = _failure(exc, f"inference on {name} v{version}")
        else:
            media = "application/octet-stream" if BINARY_HEADER in headers else JSON
            response = Response(body, headers=headers, media_type=media)
            if shadow is not None:
                ir = infer_request
                response.background = BackgroundTask(
                    self.shadow.send_after,
                    shadow,
                    "v2",
                    lambda: shadow.infer_outputs(ir),
                    rid,
                    now,
                    ir.inputs,
                    current=lambda: deployment.shadow,
                )
            elif self.mirror is not None and not pinned:
                sent = {k: request.headers[k] for k in MIRRORED_HEADERS if k in request.headers}
                response.background = BackgroundTask(
                    self.mirror.send_after, deployment, "v2", raw, rid, now, sent
                )
        return self._answer(request, name, version, rid, response, (started, now), record)

    async def predict_v1(self, request: Request) -> Response:
        """`POST /v1/models/<m>:predict` (V1 `instances`: records or positional rows)."""
        started, now = time.perf_counter(), time.time()
        name = request.path_params["model_name"]
        version = "-"
        rid = capture.request_id(None, request.headers)
        record, shadow = None, None
        try:
            raw = await request.body()
            payload = _loads(raw)
            deployment = self.repository.deployment(name)
            model = deployment.select(None, request.headers)
            shadow = deployment.shadow
            version = str(model.version)
            if not isinstance(payload, dict) or "instances" not in payload:
                raise InvalidInput('a V1 request body must be a JSON object with "instances"')
            answer = model.predict_v1(payload["instances"])
            body = orjson.dumps({**answer, "id": rid}, option=orjson.OPT_SERIALIZE_NUMPY)
            features = [f.name for f in model.features]
            record = ("v1", payload["instances"], answer, features)
        except Exception as exc:
            response = _failure(exc, f"V1 inference on {name} v{version}")
        else:
            response = Response(body, headers={VERSION_HEADER: version}, media_type=JSON)
            if shadow is not None:
                instances = payload["instances"]
                response.background = BackgroundTask(
                    self.shadow.send_after, shadow, "v1", lambda: shadow.predict_v1(instances), rid, now,
                    (instances, [f.name for f in shadow.features]), current=lambda: deployment.shadow,
                )  # fmt: skip
            elif self.mirror is not None:
                headers = {"content-type": JSON}
                response.background = BackgroundTask(
                    self.mirror.send_after, deployment, "v1", raw, rid, now, headers
                )
        return self._answer(request, name, version, rid, response, (started, now), record)

    def _answer(
        self,
        request: Request,
        name: str,
        version: str,
        rid: str | None,
        response: Response,
        clock: tuple[float, float],
        record: tuple | None,
    ) -> Response:
        """Name the request id (body and header), queue the capture record, count the answer.

        `clock` is (perf_counter, time) when the request arrived; `record` (kind, inputs, outputs,
        features) the answered request's references, None for a refused one.
        """
        error = None
        if record is None:  # refused: the error body names the id too
            rid = rid or capture.request_id(None, request.headers)
            error = orjson.loads(response.body).get("error")
            response = Response(
                orjson.dumps({"error": error, "id": rid}), status_code=response.status_code, media_type=JSON
            )
        assert rid is not None
        response.headers[REQUEST_ID_HEADER] = rid
        account(clock, rid, name, version, response.status_code, record, error)
        return response

    async def metadata(self, request: Request) -> Response:
        """`GET /v2/models/<m>[/versions/<v>]`: versions, inputs and outputs."""
        name = request.path_params["model_name"]
        try:
            deployment = self.repository.deployment(name)
            pinned = request.path_params.get("model_version")
            table = deployment.table
            if pinned:
                model = deployment.select(pinned)
                versions = [pinned]
            else:
                model = deployment._any()
                versions = sorted(table.versions, key=_version_key)
        except (ModelNotFound, VersionNotLoaded) as exc:
            return _error(404, str(exc))
        body = {
            "name": name,
            "versions": versions,
            "platform": "sklearn",
            "inputs": [] if model is None else model.get_input_types(),
            "outputs": [] if model is None else model.get_output_types(),
            "parameters": {"serving_version": deployment.serving},
        }
        return Response(orjson.dumps(body), media_type=JSON)

    async def version_ready(self, request: Request) -> Response:
        """`GET /v2/models/<m>/versions/<v>/ready`."""
        name, version = request.path_params["model_name"], request.path_params["model_version"]
        try:
            ready = self.repository.deployment(name).select(version).ready
        except (ModelNotFound, VersionNotLoaded) as exc:
            return _error(404, str(exc))
        body = orjson.dumps({"name": name, "version": version, "ready": ready})
        return Response(body, status_code=200 if ready else 503, media_type=JSON)

    async def load(self, request: Request) -> Response:
        """`POST /v2/repository/models/<m>/load`: reconcile with the spec; say what is held now."""
        name = request.path_params["model_name"]
        loop = asyncio.get_running_loop()
        try:  # in a thread: the event loop keeps answering with the current table meanwhile
            deployment = await loop.run_in_executor(None, self.repository.reconcile, name)
        except ModelNotFound as exc:
            return _error(404, f"{exc}; write its deployment spec first")
        except PayloadError as exc:
            return _error(400, str(exc))
        except LoadFailed as exc:
            return _error(500, str(exc))
        body = {
            "name": name,
            "load": True,
            "versions": sorted(deployment.table.versions, key=_version_key),
            "serving": deployment.serving,
        }
        return Response(orjson.dumps(body), media_type=JSON)


def _version_key(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (1 << 62, version)
