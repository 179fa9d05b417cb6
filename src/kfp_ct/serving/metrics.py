"""The server's own Prometheus metrics, exported on KServe's `/metrics` (same registry).

Every answered or refused V2/V1 request is counted once by `observe`, called by the REST routes
as they answer:

- `kfp_ct_requests_total{model,version,code}`: requests by HTTP status (a 404 is counted under
  model and version `_not_found`: paths naming no served model must not mint label values);
- `kfp_ct_request_errors_total{model,version,kind}`: `refused` (4xx) and `failed` (5xx) ones;
- `kfp_ct_request_duration_seconds{model,version}`: latency from arrival to the answer built
  (the same clock as the capture record's `latency_ms`), buckets 0.5 ms .. 2.5 s;
- `kfp_ct_predictions_total{model,version,class}`: predicted classes of classifiers (answers
  that carry class probabilities, or integer/boolean/string labels); regression is not counted.

The capture counters `kfp_ct_capture_records_total` and `kfp_ct_capture_dropped_total` live with
the recorder (`kfp_ct.capture.recorder`). KServe's own metrics are `request_*_seconds{model_name}`:
no name here collides with them.

Cheap on the hot path: each (model, version, code) keeps its metric children in a dict, so an
answer costs three dict lookups and a few lock-protected additions.
"""

from __future__ import annotations

from collections import Counter as Tally
from typing import Any

from prometheus_client import Counter, Histogram

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
CLASS_DATATYPES = ("INT", "UINT", "BOOL", "BYTES")  # V2 `predict` datatypes that are labels
NOT_FOUND = "_not_found"  # model and version label of 404 answers (the path is the client's)

REQUESTS = Counter(
    "kfp_ct_requests", "Inference requests by model, version and HTTP status", ["model", "version", "code"]
)
ERRORS = Counter(
    "kfp_ct_request_errors",
    "Inference requests answered with an error: refused (4xx) or failed (5xx)",
    ["model", "version", "kind"],
)
LATENCY = Histogram(
    "kfp_ct_request_duration_seconds",
    "Inference latency from arrival to the answer, seconds",
    ["model", "version"],
    buckets=LATENCY_BUCKETS,
)
PREDICTIONS = Counter(
    "kfp_ct_predictions", "Predicted classes of answered rows", ["model", "version", "class"]
)

_children: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}


def _for(model: str, version: str, status: int) -> tuple[Any, Any, Any]:
    key = (model, version, status)
    found = _children.get(key)
    if found is None:
        kind = "refused" if status < 500 else "failed"
        error = ERRORS.labels(model, version, kind) if status >= 400 else None
        found = (REQUESTS.labels(model, version, str(status)), error, LATENCY.labels(model, version))
        _children[key] = found
    return found


def predicted_classes(kind: str, outputs: Any) -> list | None:
    """The predicted labels of an answer (`kind` v2: InferOutputs; v1: the body); None: not a class."""
    if kind == "v1":
        return outputs.get("predictions") if "classes" in outputs else None
    predict, has_proba = None, False
    for output in outputs:
        if output.name == "predict":
            predict = output
        elif output.name == "predict_proba":
            has_proba = True
    if predict is None or not (has_proba or predict.datatype.startswith(CLASS_DATATYPES)):
        return None
    return predict.data


def observe(model: str, version: str, status: int, seconds: float, answer: tuple | None = None) -> None:
    """Count one answer; `answer` is the capture record's (kind, inputs, outputs, features)."""
    if status == 404:  # the path named no served model or version: keep the labels bounded
        model, version = NOT_FOUND, NOT_FOUND
    requests, error, latency = _for(model, version, status)
    requests.inc()
    latency.observe(seconds)
    if error is not None:
        error.inc()
    if answer is None:
        return
    labels = predicted_classes(answer[0], answer[2])
    if labels:
        for label, n in Tally(map(_label, labels)).items():
            PREDICTIONS.labels(model, version, label).inc(n)


def _label(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
