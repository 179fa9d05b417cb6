"""Shadow copies: the challenger scores a copy of each answered request, off the request path.

`ShadowSender.send` puts a job on a bounded queue without waiting and returns; one worker
thread per process runs the shadow version on it and queues its capture record under the same
request id, with `role=shadow`, so readers can tell it from the answer the client got. A full
queue drops the copy and counts it (`kfp_ct_shadow_dropped_total{model,reason="queue_full"}`): a
slow challenger never slows the champion's answers, it only sees fewer copies. A queued copy whose
version stopped shadowing before its turn (replaced, promoted, rolled back) is skipped, counted
with `reason="not_shadowing"`: a backlog for the old shadow never delays the new one's evidence.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter

from kfp_ct.capture import recorder as capture
from kfp_ct.capture import store

log = logging.getLogger(__name__)
QUEUE_SIZE = 1024
SWITCH_INTERVAL_S = 0.0002  # Python's default is 0.005: a whole shadow prediction
SHADOW_SENT = Counter("kfp_ct_shadow_requests", "Requests copied to a shadow version", ["model", "version"])
SHADOW_DROPPED = Counter(
    "kfp_ct_shadow_dropped", "Shadow copies not scored: queue full or not shadowing", ["model", "reason"]
)


class ShadowSender:
    """A bounded queue of shadow jobs and the daemon thread that runs them."""

    def __init__(self, maxsize: int = QUEUE_SIZE) -> None:
        self.queue: queue.Queue = queue.Queue(maxsize=maxsize)
        self.done = 0
        self.dropped = 0
        self.skipped = 0
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def send(
        self,
        model: Any,
        kind: str,
        score: Callable[[], Any],
        rid: str,
        now: float,
        extra: Any,
        current: Callable[[], Any] | None = None,
    ) -> bool:
        """Queue `score()` (the shadow version's answer) for request `rid`; False when dropped.

        `kind` and `extra` say how the capture record reads (`v2`: extra is the inputs; `v1`: the
        instances and feature names). `current()`, when given, is the shadow at the copy's turn:
        unless it is still `model`, the copy is skipped.
        """
        self._start()
        try:
            self.queue.put_nowait(((model, kind, score, rid, now, extra), current))
        except queue.Full:
            self.dropped += 1
            SHADOW_DROPPED.labels(model.name, "queue_full").inc()
            return False
        return True

    async def send_after(self, *args: Any, **kwargs: Any) -> None:
        """`send` as a coroutine: a response's background task, run once the body is sent."""
        self.send(*args, **kwargs)

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or not self._thread.is_alive():
                    # a request waiting for the GIL the shadow thread holds waits at most this long
                    sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
                    self._thread = threading.Thread(target=self._run, name="kfp-ct-shadow", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while True:
            job, current = self.queue.get()
            try:
                if current is not None and current() is not job[0]:
                    self.skipped += 1
                    SHADOW_DROPPED.labels(job[0].name, "not_shadowing").inc()
                    continue
                self._score(*job)
            except Exception:  # one bad copy must not stop the worker
                log.exception("shadow copy failed")
            finally:
                self.done += 1
                self.queue.task_done()

    @staticmethod
    def _score(model: Any, kind: str, score: Callable[[], Any], rid: str, now: float, extra: Any) -> None:
        from kfp_ct.serving.rest import status_of  # rest imports this module

        clock = (time.perf_counter(), now)  # the copy's latency is its own scoring time
        status, outputs, error = 200, None, None
        try:
            outputs = score()
        except Exception as exc:  # the shadow's failure is its own signal, captured as such
            status, error = status_of(exc), f"{type(exc).__name__}: {exc}"
        SHADOW_SENT.labels(model.name, str(model.version)).inc()
        inputs, features = extra if kind == "v1" else (extra, None)
        answered = None if outputs is None else (kind, inputs, outputs, features)
        capture.capture(
            clock, rid, model.name, str(model.version), status, answered, error, store.SHADOW_ROLE
        )

    def drain(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued copy was scored (tests, benchmarks); whether it finished."""
        deadline = time.monotonic() + timeout_s
        while self.queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.005)
        return not self.queue.unfinished_tasks


def v1_url(v2_infer_url: str) -> str:
    """The V1 `:predict` URL of the server and model a V2 `/v2/models/<m>/infer` URL names."""
    base, sep, rest = v2_infer_url.partition("/v2/models/")
    if not sep or not rest.endswith("/infer"):
        raise ValueError(f"{v2_infer_url!r} is not a V2 infer URL (.../v2/models/<model>/infer)")
    return f"{base}/v1/models/{rest[: -len('/infer')]}:predict"


class Mirror(ShadowSender):
    """Copies of answered requests posted to a shadow server (a cluster's `<isvc>-shadow`).

    The same bounded queue and worker as in-process shadows; the job is an HTTP POST of the
    request as the client sent it, with its request id, and the shadow's own server captures its
    answer (`KFP_CT_SHADOW_OF`: under the champion's name, role `shadow`). The champion's
    server reads the shadow's V2 infer URL from `KFP_CT_SHADOW_URL` (`Mirror.from_env`).
    """

    def __init__(self, url: str, maxsize: int = QUEUE_SIZE, timeout_s: float = 10.0) -> None:
        super().__init__(maxsize)
        self.url, self.v1 = url, v1_url(url)
        self.timeout_s = timeout_s
        self.failed = 0
        self._client: Any = None

    @classmethod
    def from_env(cls) -> Mirror | None:
        """The mirror `KFP_CT_SHADOW_URL` names, or None when it is unset."""
        import os

        from kfp_ct import settings

        url = os.environ.get(settings.SHADOW_URL_ENV)
        return cls(url) if url else None

    def _score(self, model: Any, kind: str, body: bytes, rid: str, now: float, headers: Any) -> None:
        import httpx

        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout_s, trust_env=False)
        try:
            answer = self._client.post(
                self.url if kind == "v2" else self.v1, content=body, headers={**headers, "x-request-id": rid}
            )
        except httpx.TransportError as exc:
            self.failed += 1
            log.warning("shadow copy of %s to %s failed: %s", rid, self.url, exc)
            return
        SHADOW_SENT.labels(model.name, "mirror").inc()
        if answer.status_code >= 500:
            self.failed += 1
            log.warning("shadow at %s answered %s to %s", self.url, answer.status_code, rid)
