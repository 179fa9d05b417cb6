"""The model server's capture recorder: a bounded queue and one writer thread per process.

The request path only builds a tuple of references (`Record`) and appends it to a deque: no
lock, no wake-up of the writer (a `queue.Queue` woke the writer thread on every put, and those
GIL hand-offs cost the server more CPU than writing the rows). A full queue drops the record and
counts it. The writer thread looks every `POLL_S` (or `flush_interval_s`, if shorter), turns
records into rows (one per scored row: request id, time, model and version, every input column,
prediction, class probabilities, latency, HTTP status) and writes a Parquet file per model and
hour when it holds `batch_size` records or its oldest waited `flush_interval_s`. `close` (at
SIGTERM, via the server, or at exit) drains the queue, so a graceful stop loses nothing; a kill
loses at most what waited for its batch.

Counters on the server's `/metrics`: `kfp_ct_capture_records_total{model}` (rows written) and
`kfp_ct_capture_dropped_total{model,reason}` (records lost: `queue_full` or `write_error`).
"""

from __future__ import annotations

import atexit
import json
import logging
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
from prometheus_client import Counter

from kfp_ct.capture import store
from kfp_ct.capture.config import CaptureConfig

log = logging.getLogger(__name__)
RECORDS = Counter("kfp_ct_capture_records", "Captured rows written to the capture store", ["model"])
DROPPED = Counter(
    "kfp_ct_capture_dropped", "Captured records lost (queue full, write error)", ["model", "reason"]
)
REQUEST_ID_HEADERS = ("x-request-id", "ce-id")
POLL_S = 0.05  # how often the writer looks at the queue


def request_id(body_id: Any, headers: Mapping[str, str] | None) -> str:
    """The request's id: the V2 body's `id`, else `X-Request-Id`, else `Ce-Id`, else a new UUID."""
    if body_id not in (None, ""):
        return str(body_id)
    if headers is not None:
        for name in REQUEST_ID_HEADERS:
            value = headers.get(name)
            if value:
                return value
    return str(uuid.uuid4())


class Record(NamedTuple):
    """One answered request, as references; turned into rows off the request thread.

    `kind` says how `inputs`/`outputs` read: `v2` or `grpc` (lists of KServe InferInput/InferOutput), `v1`
    (the `instances` list and the response body, `features` naming positional columns), or
    `status` (a refused request: no inputs or outputs).
    """

    request_id: str
    time: float
    model: str
    version: str
    kind: str
    status: int
    latency_ms: float
    inputs: Any = None
    outputs: Any = None
    features: Any = None
    error: str | None = None
    role: str | None = None  # store.SHADOW_ROLE for a shadow version's copy


def _text(value: Any) -> Any:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _column(values: list, rows: int) -> list:
    if values and isinstance(values[0], list) and len(values) == rows:
        values = [v[0] if len(v) == 1 else json.dumps(v) for v in values]
    if len(values) == rows:
        return [_text(v) for v in values]
    if rows and len(values) % rows == 0:  # one [rows, k] tensor: each row's k values as JSON
        k = len(values) // rows
        return [json.dumps([_text(v) for v in values[i * k : (i + 1) * k]]) for i in range(rows)]
    return [None] * rows


def _v2_columns(record: Record) -> tuple[dict[str, list], list, list | None, str | None]:
    outputs = {o.name: o for o in record.outputs}
    predictions = list(outputs["predict"].data) if "predict" in outputs else []
    rows = len(predictions)
    proba, classes = None, None
    if "predict_proba" in outputs:
        out = outputs["predict_proba"]
        flat, width = list(out.data), int(out.shape[-1]) if out.shape else 1
        rows = rows or len(flat) // max(width, 1)
        proba = [flat[i * width : (i + 1) * width] for i in range(rows)]
        classes = (out.parameters or {}).get("classes")
    columns = {}
    for item in record.inputs:
        raw = getattr(item, "_raw_data", None) is not None
        data = item.as_numpy().reshape(-1).tolist() if raw else list(item.data)
        columns[item.name] = _column(data, rows)
    return columns, predictions or [None] * rows, proba, classes


def _v1_columns(record: Record) -> tuple[dict[str, list], list, list | None, str | None]:
    body, instances = record.outputs, record.inputs
    rows = len(body.get("predictions", []))
    columns: dict[str, list] = {}
    for i, instance in enumerate(instances[:rows]):
        items = (
            instance.items() if isinstance(instance, dict) else zip(record.features, instance, strict=False)
        )
        for name, value in items:
            columns.setdefault(name, [None] * rows)[i] = (
                json.dumps(value) if isinstance(value, list) else value
            )
    classes = body.get("classes")
    return (
        columns,
        list(body["predictions"]),
        body.get("probabilities"),
        None if classes is None else json.dumps(classes),
    )


def columns_of(record: Record) -> dict[str, list]:
    """The captured rows of one record, column by column (a refused request: one status row)."""
    if record.kind == "status":
        inputs: dict[str, list] = {}
        predictions: list = [None]
        proba, classes, protocol = None, None, None
    else:
        inputs, predictions, proba, classes = (_v1_columns if record.kind == "v1" else _v2_columns)(record)
        protocol = record.kind
    n = len(predictions)
    out = {
        store.REQUEST_ID: [record.request_id] * n,
        store.ROW: list(range(n)),
        store.TIME: [record.time] * n,
        store.MODEL: [record.model] * n,
        store.VERSION: [record.version] * n,
        store.PROTOCOL: [protocol] * n,
        store.STATUS: [record.status] * n,
        store.LATENCY_MS: [record.latency_ms] * n,
        store.PREDICTION: predictions,
        store.PROBABILITIES: [None] * n if proba is None else [[float(p) for p in row] for row in proba],
        store.CLASSES: [classes] * n,
        store.ERROR: [record.error] * n,
        store.ROLE: [record.role] * n,
    }
    for name, values in inputs.items():
        out.setdefault(name, values)
    return out


def rows_of(record: Record) -> list[dict[str, Any]]:
    """The captured rows of one record, row by row."""
    columns = columns_of(record)
    return [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def batch_columns(records: list[Record]) -> tuple[dict[str, list], int]:
    """The columns of many records (a column a record lacks is null in its rows), and the rows."""
    out: dict[str, list] = {}
    rows = 0
    for record in records:
        try:
            block = columns_of(record)
        except Exception as exc:  # an odd request must not stop the writer: keep its status
            log.warning("capture: request %s kept as status only: %s", record.request_id, exc)
            block = columns_of(record._replace(kind="status", error=record.error or f"not captured: {exc}"))
        n = len(block[store.REQUEST_ID])
        for name, values in block.items():
            column = out.get(name)
            if column is None:
                out[name] = column = [None] * rows
            column.extend(values)
        rows += n
        for column in out.values():
            if len(column) < rows:
                column.extend([None] * (rows - len(column)))
    return out, rows


_TYPES = {store.TIME: pa.timestamp("ns", tz="UTC"), store.STATUS: pa.int32(), store.ROW: pa.int32()}


def _array(name: str, values: list) -> pa.Array:
    if name == store.TIME:  # epoch seconds
        return pa.array(np.round(np.asarray(values, dtype="float64") * 1e9).astype("int64"), _TYPES[name])
    try:
        return pa.array(values, _TYPES.get(name), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types in one input column: kept as text
        text = [v if v is None or isinstance(v, str) else json.dumps(v, default=str) for v in values]
        return pa.array(text)


def to_table(columns: dict[str, list]) -> pa.Table:
    """Captured rows, column by column, as an Arrow table with the store's column types."""
    return pa.table({name: _array(name, values) for name, values in columns.items()})


class CaptureRecorder:
    """A bounded queue of records and the thread that writes them in batches."""

    def __init__(self, config: CaptureConfig) -> None:
        self.config = config
        self.queue: deque[Record] = deque()
        self.written = 0
        self.files = 0
        self._stop = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="kfp-ct-capture", daemon=True)
        self._thread.start()

    def sampled(self) -> bool:
        """Whether this request is recorded (sampling rate)."""
        rate = self.config.sample_rate
        return rate >= 1.0 or random.random() < rate

    def record(self, record: Record) -> None:
        """Queue one record without waiting; a full queue drops it and counts the drop."""
        if self._closed:
            return
        if len(self.queue) >= self.config.queue_size:
            DROPPED.labels(record.model, "queue_full").inc()
            return
        self.queue.append(record)

    def _take(self, limit: int) -> list[Record]:
        pop, n = self.queue.popleft, min(limit, len(self.queue))
        return [pop() for _ in range(n)]

    def _run(self) -> None:
        batch, interval = self.config.batch_size, self.config.flush_interval_s
        waiting_since: float | None = None  # when the writer first saw the oldest waiting record
        while not self._stop.wait(min(POLL_S, interval)):
            if not self.queue:
                waiting_since = None
                continue
            now = time.monotonic()
            if waiting_since is None:
                waiting_since = now
            while len(self.queue) >= batch:  # full batches at once; the rest keeps its deadline
                self._flush(self._take(batch))
            if self.queue and now - waiting_since >= interval:
                self._flush(self._take(batch))
                waiting_since = now if self.queue else None
        while self.queue:  # closing: write everything left
            self._flush(self._take(batch))

    def _flush(self, records: list[Record]) -> None:
        by_model: dict[str, list[Record]] = {}
        for record in records:
            by_model.setdefault(record.model, []).append(record)
        for model, batch in by_model.items():
            try:
                columns, rows = batch_columns(batch)
                self.files += len(store.write_table(self.config.uri, model, to_table(columns)))
            except Exception as exc:
                log.error(
                    "capture: %d records of %s not written to %s: %s", len(batch), model, self.config.uri, exc
                )
                DROPPED.labels(model, "write_error").inc(len(batch))
                continue
            self.written += rows
            RECORDS.labels(model).inc(rows)

    def close(self, timeout_s: float = 30.0) -> None:
        """Write everything queued, then stop the writer (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._thread.join(timeout_s)
        log.info("capture: %d rows in %d files written to %s", self.written, self.files, self.config.uri)


_current: CaptureRecorder | None = None


def install(config: CaptureConfig | None = None) -> CaptureRecorder | None:
    """Start this process's recorder (once); None when capture is off."""
    global _current
    if _current is None:
        config = config or CaptureConfig.from_env()
        if not config.enabled:
            log.info("capture: off")
            return None
        _current = CaptureRecorder(config)
        atexit.register(_current.close)
        log.info("capture: sampling %.3g of requests into %s", config.sample_rate, config.uri)
    return _current


def current() -> CaptureRecorder | None:
    """This process's recorder, if capture is on."""
    return _current


def capture(
    clock: tuple[float, float],
    request_id_: str,
    model: str,
    version: str,
    status: int,
    answered: tuple | None,
    error: str | None = None,
    role: str | None = None,
) -> None:
    """Queue one request's record, if capture is on (and, for an answer, the request is sampled).

    `clock` is (perf_counter, time) when the work began; `answered` is (kind, inputs, outputs,
    features) of an answered request (see `Record`), None for a refused one. The REST routes and
    the gRPC servicer call this once per request; the shadow worker once per copy, with `role`
    `shadow` (a copy is recorded whenever its answer could have been: it is not sampled again).
    On a shadow server (`shadow_of`) every request is the champion's copy.
    """
    recorder = _current
    if recorder is None or (role is None and not recorder.sampled()):
        return
    started, now = clock
    latency_ms = (time.perf_counter() - started) * 1000.0
    kind, inputs, outputs, features = answered or ("status", None, None, None)
    shadow_of = recorder.config.shadow_of
    if shadow_of is not None:
        model, role = shadow_of, store.SHADOW_ROLE
    recorder.record(
        Record(
            request_id_, now, model, version, kind, status, latency_ms, inputs, outputs, features, error, role
        )
    )


def shutdown() -> None:
    """Flush and stop this process's recorder (the server calls it when it stops)."""
    global _current
    if _current is not None:
        _current.close()
        _current = None
