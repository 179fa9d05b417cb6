"""V2 gRPC with capture: KServe's servicer and server, accounting for each `ModelInfer` as REST does.

KServe's `InferenceServicer.ModelInfer` hands the request to the data plane (the `Deployment`
routes it to a version) and converts the answer; `CapturingServicer` does the same, then queues
one capture record and counts the request on `/metrics` (`kfp_ct.serving.rest.account`): the
request id (the request's `id`, else the `x-request-id` or `ce-id` metadata, else a new one,
always returned as the response `id`), the version that answered, inputs, outputs, latency and,
for a refused request, the HTTP status its REST twin would get.
"""

from __future__ import annotations

import time
from concurrent import futures

from grpc import ServicerContext, aio
from kserve.logging import logger
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc
from kserve.protocol.grpc.interceptors import ExceptionToStatusInterceptor, LoggingInterceptor
from kserve.protocol.grpc.server import GRPCServer
from kserve.protocol.grpc.servicer import InferenceServicer
from kserve.protocol.infer_type import InferRequest, InferResponse
from kserve.utils.utils import to_headers

from kfp_ct.capture import recorder as capture
from kfp_ct.serving.rest import account, status_of


class CapturingServicer(InferenceServicer):
    """KServe's V2 servicer; every `ModelInfer` is captured."""

    async def ModelInfer(
        self, request: pb.ModelInferRequest, context: ServicerContext
    ) -> pb.ModelInferResponse:
        """Answer one V2 gRPC inference request and queue its capture record."""
        clock = (time.perf_counter(), time.time())
        headers = to_headers(context)
        name, version = request.model_name, request.model_version or "-"
        rid = capture.request_id(request.id, headers)
        try:
            self.validate_grpc_request(request)
            infer_request = InferRequest.from_grpc(request)
            infer_request.id = rid
            answer, _ = await self._data_plane.infer(request=infer_request, headers=headers, model_name=name)
        except Exception as exc:
            account(clock, rid, name, version, status_of(exc), None, str(exc))
            raise
        if not isinstance(answer, InferResponse):  # a model that answers protobuf or a dict itself
            account(clock, rid, name, version, 200, None)
            if isinstance(answer, pb.ModelInferResponse):
                return answer
            return pb.ModelInferResponse(
                id=answer["id"], model_name=answer["model_name"], outputs=answer["outputs"]
            )
        version = str(answer.model_version or version)
        account(clock, rid, name, version, 200, ("grpc", infer_request.inputs, answer.outputs, None))
        return answer.to_grpc()


class ProjectGRPCServer(GRPCServer):
    """KServe's gRPC server (same options and interceptors) serving `CapturingServicer`."""

    async def start(self, max_workers: int) -> None:
        """KServe's `GRPCServer.start` with the capturing servicer."""
        servicer = CapturingServicer(self._data_plane, self._model_repository_extension)
        self._server = aio.server(
            futures.ThreadPoolExecutor(max_workers=max_workers),
            interceptors=(LoggingInterceptor(), ExceptionToStatusInterceptor()),
            options=[
                ("grpc.max_send_message_length", self._kwargs.get("grpc_max_send_message_length")),
                ("grpc.max_receive_message_length", self._kwargs.get("grpc_max_receive_message_length")),
            ],
        )
        grpc_predict_v2_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(servicer, self._server)
        self._server.add_insecure_port(f"[::]:{self._port}")
        logger.info("Starting gRPC server (V2, captured) on port %s with %s workers", self._port, max_workers)
        await self._server.start()
        await self._server.wait_for_termination()
