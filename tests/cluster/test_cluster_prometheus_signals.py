"""Version signals from Prometheus' HTTP API, against a Prometheus DOUBLE (a local HTTP server).

The double answers `/api/v1/query` from a table of PromQL -> value, the way Prometheus shapes an
instant-vector answer; it evaluates nothing, so the test checks which queries are sent and how
their answers are read, not PromQL itself.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from kfp_ct.cluster.prometheus import PrometheusSignals, queries
from kfp_ct.errors import ServiceUnavailable


@pytest.fixture
def prometheus():
    """(URL, answers: PromQL -> value or None, asked: the queries received)."""
    answers: dict[str, str | None] = {}
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            url = urlparse(self.path)
            promql = parse_qs(url.query)["query"][0]
            asked.append(promql)
            if url.path != "/api/v1/query" or promql not in answers:
                status, body = 400, {"status": "error", "errorType": "bad_data", "error": "parse error"}
            else:
                value = answers[promql]
                result = [] if value is None else [{"metric": {}, "value": [1700000000.0, value]}]
                status, body = 200, {"status": "success", "data": {"resultType": "vector", "result": result}}
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", answers, asked
    finally:
        server.shutdown()
        server.server_close()


def test_version_stats_reads_the_three_queries(prometheus):
    url, answers, asked = prometheus
    q = queries("churn-model", "2", 300)
    answers.update({q["count"]: "1000", q["errors"]: "12", q["latency_p99_s"]: "0.0425"})
    stats = PrometheusSignals(url).version_stats("churn-model", "2", 300)
    assert stats == {"count": 1000, "errors": 12, "error_rate": 0.012, "latency_p99_ms": 42.5}
    assert sorted(asked) == sorted(q.values())
    assert 'kfp_ct_requests_total{model="churn-model",version="2"}[300s]' in q["count"]
    assert "histogram_quantile(0.99" in q["latency_p99_s"] and "_bucket{" in q["latency_p99_s"]


def test_no_samples_and_nan_read_as_no_data(prometheus):
    url, answers, _ = prometheus
    q = queries("m", "1", 60)
    answers.update({q["count"]: None, q["errors"]: None, q["latency_p99_s"]: "NaN"})
    stats = PrometheusSignals(url).version_stats("m", "1", 60)
    assert stats == {"count": 0, "errors": 0, "error_rate": 0.0, "latency_p99_ms": None}


def test_label_values_are_quoted():
    assert 'model="a\\"b"' in queries('a"b', "1", 60)["count"]


def test_a_refused_query_and_a_dead_server_say_so(prometheus):
    url, _, _ = prometheus
    with pytest.raises(ServiceUnavailable, match=r"refused query .*parse error"):
        PrometheusSignals(url).query("up{")
    with pytest.raises(ServiceUnavailable, match="did not answer"):
        PrometheusSignals("http://127.0.0.1:9", timeout_s=2).query("up")
