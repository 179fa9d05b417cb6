"""The project's KServe ModelServer: KServe's app and gRPC server, the project's V2 REST routes.

`ProjectModelServer.start` is KServe's `ModelServer.start` with one change: the REST server is
`ProjectRESTServer`, which puts `kfp_ct.serving.rest` routes in front of KServe's, answers 400
(not 500) when request validation meets a non-finite number, and adds KServe's timing
middleware and uvicorn's access log only when asked. With `--workers N`, KServe pickles this
REST server with the repository and its models into each worker process (spawn), where
`run` sets the process up the same way. gRPC (V2) is KServe's server with a capturing servicer
(`kfp_ct.serving.grpc_server`). Each process records its traffic
(`kfp_ct.capture.recorder`) and writes what it queued before it exits.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import signal
import time
from typing import Any

import fastapi
import orjson
from fastapi.exceptions import RequestValidationError
from kserve import ModelServer
from kserve.constants.constants import FASTAPI_APP_IMPORT_STRING
from kserve.model_server import args as kserve_args
from kserve.protocol.rest.multiprocess.server import RESTServerMultiProcess, RESTServerProcess
from kserve.protocol.rest.server import RESTServer
from starlette.requests import Request
from starlette.responses import Response

from kfp_ct.capture import recorder as capture
from kfp_ct.serving.grpc_server import ProjectGRPCServer
from kfp_ct.serving.model import serve_single_threaded
from kfp_ct.serving.repository import DeploymentRepository
from kfp_ct.serving.rest import V2Routes

log = logging.getLogger(__name__)


def _finite(value: Any) -> Any:
    """`value` with every non-finite float replaced by its name, so it can be written as JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


async def validation_error_handler(_: Request, exc: RequestValidationError) -> Response:
    """400 with the validation errors (KServe's 422 handler fails with 500 on `Infinity`)."""
    detail = [{k: _finite(v) for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]
    message = "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}" for e in detail)
    body = {"error": f"invalid request: {message}"[:2000], "detail": detail}
    return Response(orjson.dumps(body, default=str), status_code=400, media_type="application/json")


def _exit_cleanly(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def configure_logging() -> None:
    """The project's loggers (`kfp_ct.*`) write where KServe's do, once per process."""
    from kserve.logging import logger as kserve_logger

    ours = logging.getLogger("kfp_ct")
    if not ours.handlers:
        for handler in kserve_logger.handlers or [logging.StreamHandler()]:
            ours.addHandler(handler)
        ours.setLevel(logging.INFO)
        ours.propagate = False


class ProjectRESTServer(RESTServer):
    """KServe's REST server with the project's routes first and the per-request extras optional."""

    def __init__(
        self, *args: Any, access_log: bool = False, latency_logging: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.access_log = access_log
        self.latency_logging = latency_logging

    @property
    def repository(self) -> DeploymentRepository:
        """The repository the data plane serves from."""
        return self.dataplane.model_registry

    def _add_middlewares(self, app: fastapi.FastAPI) -> None:
        if self.latency_logging or self.access_log_format:
            super()._add_middlewares(app)

    def create_application(self) -> None:
        """KServe's app, with the project's V2 routes matched before KServe's."""
        from uvicorn.importer import import_from_string

        app = import_from_string(FASTAPI_APP_IMPORT_STRING)
        if not getattr(app.state, "kfp_ct_routes", False):
            app.router.routes[:0] = V2Routes(self.repository).routes()
            app.state.kfp_ct_routes = True
        super().create_application()
        app.add_exception_handler(RequestValidationError, validation_error_handler)
        self.prepare_process()

    def run(self, sockets: list | None = None) -> None:
        """One worker process's server (`--workers N`); what it captured is written before it exits.

        A multiprocessing worker leaves through `os._exit`, which skips `atexit`, and uvicorn
        raises the SIGTERM it caught again once it has shut down gracefully: with the default
        handler that killed the worker before anything was written.
        """
        signal.signal(signal.SIGTERM, _exit_cleanly)
        try:
            super().run(sockets)
        finally:
            capture.shutdown()

    def prepare_process(self) -> None:
        """Per-process setup: logging, single-threaded numerics, capture, the spec watcher, the access log.

        Last, what the process holds once started (KServe, scikit-learn, the loaded models: about
        300,000 objects) is moved out of the garbage collector's sight (`gc.freeze`): capture keeps
        each request's objects for up to a flush interval, so they outlive the young generations,
        and every full collection would otherwise walk the whole heap (tens of ms) again.
        """
        configure_logging()
        serve_single_threaded()
        capture.install()
        self.repository.start_watching()
        if not self.access_log:  # uvicorn logs a request when its access logger has a handler
            access = logging.getLogger("uvicorn.access")
            access.handlers.clear()
            access.propagate = False
        gc.collect()
        gc.freeze()


class ProjectRESTServerMultiProcess(RESTServerMultiProcess):
    """KServe's worker supervisor, patient with workers that are still starting.

    KServe pings each worker every 0.5 s and kills one that has not answered within 5 s; a
    worker only answers once it has unpickled the server (importing KServe and scikit-learn),
    which takes longer than that on a loaded machine, so workers were killed and respawned in a
    loop. A worker younger than `startup_grace_s` is only checked for having exited.
    """

    startup_grace_s = 120.0

    async def keep_subprocess_alive(self, sockets: list) -> None:
        """Replace a worker that exited, or (once started) stopped answering pings."""
        if self.should_exit.is_set():
            return
        births = self.__dict__.setdefault("_births", {})
        now = time.monotonic()
        for idx, process in enumerate(self._processes):
            young = now - births.setdefault(process.pid, now) < self.startup_grace_s
            if process._process.is_alive() if young else process.is_alive():
                continue
            process.kill()
            await process.wait_for_termination()
            if self.should_exit.is_set():
                return
            log.warning("worker process %s died; starting another", process.pid)
            process = RESTServerProcess(sockets, self._rest_server.run)
            process.start()
            self._processes[idx] = process


class ProjectModelServer(ModelServer):
    """`kserve.ModelServer` whose REST server is `ProjectRESTServer`."""

    def __init__(self, *, access_log: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.access_log = access_log

    def _rest_server_for(self, workers: int) -> ProjectRESTServer:
        return ProjectRESTServer(
            FASTAPI_APP_IMPORT_STRING,
            self.dataplane,
            self.model_repository_extension,
            self.http_port,
            access_log_format=self.access_log_format,
            workers=workers,
            grace_period=self.grace_period,
            event_loop=self.event_loop,
            timeout_keep_alive=self.timeout_keep_alive,
            ssl_certfile=self.ssl_certfile,
            ssl_keyfile=self.ssl_keyfile,
            access_log=self.access_log,
            latency_logging=self.enable_latency_logging,
        )

    def start(self, models: list) -> None:
        """KServe's `ModelServer.start`, with `ProjectRESTServer` in one process or in N."""
        self._register_and_check_atleast_one_model_is_ready(models)
        rest = self._rest_server_for(self.workers)
        if self.workers > 1:
            multi = ProjectRESTServerMultiProcess(
                FASTAPI_APP_IMPORT_STRING,
                self.dataplane,
                self.model_repository_extension,
                self.http_port,
                access_log_format=self.access_log_format,
                workers=self.workers,
                grace_period=self.grace_period,
                log_config_file=kserve_args.log_config_file,
                event_loop=self.event_loop,
                timeout_keep_alive=self.timeout_keep_alive,
                ssl_certfile=self.ssl_certfile,
                ssl_keyfile=self.ssl_keyfile,
            )
            multi._rest_server = rest  # what each worker process unpickles and runs
            self._rest_multiprocess_server = multi
            self.servers.append(multi.start())
        else:
            self._rest_server = rest
            self.servers.append(rest.start())
        if self.enable_grpc:
            self._grpc_server = ProjectGRPCServer(
                self.grpc_port,
                self.dataplane,
                self.model_repository_extension,
                kwargs=vars(kserve_args),
                grace_period=self.grace_period,
            )
            self.servers.append(self._grpc_server.start(self.max_threads))
        rest.prepare_process()  # this process answers gRPC (and REST with one worker)
        self.setup_event_loop()
        self.register_signal_handler()
        try:
            asyncio.run(self._serve())
        finally:  # SIGTERM ends the servers (in-flight requests answered): then write what was captured
            capture.shutdown()
