"""Live signals of one served version from Prometheus (HTTP API `/api/v1/query`).

On a cluster the bake can read a version's error rate and p99 latency from the metrics its
servers export (`kfp_ct.serving.metrics`, scraped through the chart's PodMonitor) instead of, or
beside, its capture records; Standard-mode canaries run as their own pods, so their series carry
their own `version` label. The answer has the keys of `kfp_ct.capture.signals.request_stats`.
"""

from __future__ import annotations

from typing import Any

import httpx

from kfp_ct.errors import ServiceUnavailable

QUERY_PATH = "/api/v1/query"


def _selector(model: str, version: str) -> str:
    def quote(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return f"{{model={quote(model)},version={quote(str(version))}}}"


def queries(model: str, version: str, window_s: float) -> dict[str, str]:
    """The PromQL of each signal over the last `window_s` seconds."""
    sel, window = _selector(model, version), f"[{max(int(window_s), 1)}s]"
    bucket = f"rate(kfp_ct_request_duration_seconds_bucket{sel}{window})"
    return {
        "count": f"sum(increase(kfp_ct_requests_total{sel}{window}))",
        "errors": f"sum(increase(kfp_ct_request_errors_total{sel}{window}))",
        "latency_p99_s": f"histogram_quantile(0.99, sum by (le) ({bucket}))",
    }


class PrometheusSignals:
    """Reads version signals from a Prometheus server at `url` (e.g. http://prometheus:9090)."""

    def __init__(self, url: str, timeout_s: float = 10.0, client: httpx.Client | None = None) -> None:
        self.url = url.rstrip("/")
        self.client = client or httpx.Client(timeout=timeout_s, trust_env=False)

    def query(self, promql: str) -> float | None:
        """One instant query's scalar value (the first series), None when it has no data."""
        try:
            response = self.client.get(self.url + QUERY_PATH, params={"query": promql})
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ServiceUnavailable(f"Prometheus at {self.url} did not answer a query: {exc}") from None
        if response.status_code != 200 or body.get("status") != "success":
            why = body.get("error", response.status_code)
            raise ServiceUnavailable(f"Prometheus at {self.url} refused query {promql!r}: {why}")
        result = body["data"]["result"]
        if not result:
            return None
        value = float(result[0]["value"][1])
        return None if value != value else value  # NaN: no samples in the window

    def version_stats(self, model: str, version: str, window_s: float) -> dict[str, Any]:
        """Requests, errors, error rate and p99 latency (ms) of `model` v`version` over the window."""
        found = {key: self.query(q) for key, q in queries(model, version, window_s).items()}
        count, errors = round(found["count"] or 0.0), round(found["errors"] or 0.0)
        p99 = found["latency_p99_s"]
        return {
            "count": count,
            "errors": errors,
            "error_rate": round(errors / count, 6) if count else 0.0,
            "latency_p99_ms": None if p99 is None else round(p99 * 1000.0, 3),
        }
