"""A small synchronous client for the V2 (and V1) inference protocol, used by deploy and tests."""

from __future__ import annotations

import logging
import subprocess
import time
from dataclasses import dataclass

import httpx
import pandas as pd

from kfp_ct.errors import ServingError
from kfp_ct.serving.protocol import (
    PREDICT_OUTPUT,
    PROBA_OUTPUT,
    VERSION_HEADER,
    frame_to_v1_request,
    frame_to_v2_request,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prediction:
    """Decoded inference output."""

    predictions: list
    probabilities: list[list[float]] | None
    datatype: str
    model_version: str | None = None


def wait_ready(
    base_url: str,
    model_name: str | None,
    timeout_s: float,
    process: subprocess.Popen | None = None,
    interval_s: float = 0.2,
) -> float:
    """Poll a readiness route until it answers 200; return seconds waited.

    `/v2/models/<m>/ready`, or the server's `/v2/health/ready` when `model_name` is None.
    Fails fast when `process` (the server) exits while waiting.
    """
    start = time.monotonic()
    url = f"{base_url}/v2/models/{model_name}/ready" if model_name else f"{base_url}/v2/health/ready"
    what = f"model '{model_name}'" if model_name else "the model server"
    last = "no answer"
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while time.monotonic() - start < timeout_s:
            if process is not None and process.poll() is not None:
                raise ServingError(
                    f"the model server exited with code {process.returncode} before it was ready"
                )
            try:
                response = client.get(url)
                if response.status_code == 200:
                    return time.monotonic() - start
                last = f"HTTP {response.status_code}: {response.text[:200]}"
            except httpx.TransportError as exc:
                last = type(exc).__name__
            time.sleep(interval_s)
    raise ServingError(
        f"{what} at {base_url} was not ready after {timeout_s:g} s "
        f"(last answer: {last}); raise the readiness timeout or check the server log"
    )


def load_model(base_url: str, model_name: str, timeout_s: float) -> dict:
    """`POST /v2/repository/models/<m>/load`: make the server reconcile `model_name` with its spec.

    Returns the server's answer (`versions` held, the `serving` version). Raises ServingError
    with the server's message, or saying it was not ready after `timeout_s`.
    """
    url = f"{base_url}/v2/repository/models/{model_name}/load"
    try:
        with httpx.Client(timeout=timeout_s, trust_env=False) as client:
            response = client.post(url)
    except httpx.TimeoutException:
        raise ServingError(
            f"model '{model_name}' was not ready after {timeout_s:g} s (still loading); "
            "raise the readiness timeout or check the server log"
        ) from None
    except httpx.TransportError as exc:
        raise ServingError(f"POST {url} failed: {type(exc).__name__}: {exc}") from exc
    if response.status_code != 200:
        try:
            message = response.json().get("error") or response.text
        except ValueError:
            message = response.text
        raise ServingError(f"loading '{model_name}' answered HTTP {response.status_code}: {message[:400]}")
    return response.json()


def _post(client: httpx.Client, url: str, body: dict) -> dict:
    try:
        response = client.post(url, json=body)
    except httpx.TransportError as exc:
        raise ServingError(f"POST {url} failed: {type(exc).__name__}: {exc}") from exc
    if response.status_code != 200:
        raise ServingError(f"POST {url} answered HTTP {response.status_code}: {response.text[:300]}")
    out = response.json()
    if isinstance(out, dict) and out.get("model_version") is None and VERSION_HEADER in response.headers:
        out["model_version"] = response.headers[VERSION_HEADER]
    return out


def infer_v2(
    base_url: str,
    model_name: str,
    frame: pd.DataFrame,
    client: httpx.Client | None = None,
    version: str | None = None,
    request_id: str | None = None,
) -> Prediction:
    """Send `frame` as a V2 request (one input per column) and decode the outputs.

    `version` pins the request to one loaded version (`/v2/models/<m>/versions/<v>/infer`);
    `request_id` is the V2 `id` (the server makes one up otherwise).
    """
    own = client is None
    client = client or httpx.Client(timeout=10.0, trust_env=False)
    path = f"/v2/models/{model_name}" + (f"/versions/{version}" if version else "") + "/infer"
    try:
        body = _post(client, f"{base_url}{path}", frame_to_v2_request(frame, request_id))
    finally:
        if own:
            client.close()
    outputs = {o["name"]: o for o in body.get("outputs", [])}
    if PREDICT_OUTPUT in outputs:
        pred = outputs[PREDICT_OUTPUT]
    elif len(outputs) == 1:  # other runtimes (MLServer, sklearnserver) name their one output freely
        pred = next(iter(outputs.values()))
    else:
        raise ServingError(f"response has no '{PREDICT_OUTPUT}' output: {sorted(outputs)}")
    proba = outputs.get(PROBA_OUTPUT)
    probabilities = None
    if proba is not None:
        rows, cols = proba["shape"]
        flat = proba["data"]
        probabilities = [flat[i * cols : (i + 1) * cols] for i in range(rows)]
    return Prediction(pred["data"], probabilities, pred["datatype"], body.get("model_version"))


def infer_v1(base_url: str, model_name: str, frame: pd.DataFrame) -> list:
    """Send `frame` as a V1 request and return the predictions."""
    with httpx.Client(timeout=10.0, trust_env=False) as client:
        body = _post(client, f"{base_url}/v1/models/{model_name}:predict", frame_to_v1_request(frame))
    return body["predictions"]
