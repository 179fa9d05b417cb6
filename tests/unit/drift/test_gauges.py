"""Monitoring gauges pushed to a Pushgateway DOUBLE (a local HTTP server that keeps each push)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kfp_ct.drift import gauges


@pytest.fixture
def pushgateway():
    """(URL, pushes): each push as (method, path, body text)."""
    pushes: list[tuple[str, str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_PUT(self):
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            pushes.append(("PUT", self.path, body))
            self.send_response(200)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", pushes
    finally:
        server.shutdown()
        server.server_close()


def frames(shift: float):
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"age": rng.normal(40, 10, 2000), "plan": rng.choice(["a", "b", "c"], 2000),
                              "steady": rng.normal(0, 1, 2000)})  # fmt: skip
    current = pd.DataFrame({"age": rng.normal(40 + shift, 10, 1000),
                            "plan": rng.choice(["a", "b", "c"], 1000, p=[0.8, 0.1, 0.1]),
                            "steady": rng.normal(0, 1, 1000)})  # fmt: skip
    return reference, current


def test_feature_psi_sees_the_shift_and_not_the_noise():
    reference, current = frames(shift=10.0)
    psi = gauges.feature_psi(reference, current, ["age", "plan", "steady"])
    assert psi["age"] > 0.2 and psi["plan"] > 0.2
    assert psi["steady"] < 0.05


def test_metric_drop_points_the_right_way():
    assert gauges.metric_drop("accuracy", 0.9, 0.81) == pytest.approx(0.1)
    assert gauges.metric_drop("rmse", 1.0, 1.2) == pytest.approx(0.2)
    assert gauges.metric_drop("rmse", 1.0, 0.8) < 0


def test_export_pushes_gauges_the_rules_read(pushgateway):
    url, pushes = pushgateway
    reference, current = frames(shift=10.0)
    performance = {"metric": "accuracy", "champion": 0.9, "live": 0.8}
    pushed = gauges.export("churn", reference, current, ["age", "plan", "steady"], performance, url)
    assert pushed is not None and pushed["live_metric_drop"] == pytest.approx(1 / 9, abs=1e-6)
    [(method, path, body)] = pushes
    assert method == "PUT" and path == "/metrics/job/kfp-ct-monitor/model/churn"
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(body) for s in f.samples}  # fmt: skip
    assert samples[("kfp_ct_feature_psi", (("feature", "age"), ("model", "churn")))] > 0.2
    assert samples[("kfp_ct_live_metric", (("metric", "accuracy"), ("model", "churn")))] == 0.8
    assert samples[("kfp_ct_training_metric", (("metric", "accuracy"), ("model", "churn")))] == 0.9
    assert samples[("kfp_ct_live_metric_drop", (("metric", "accuracy"), ("model", "churn")))] > 0.05


def test_no_gateway_no_push_and_a_dead_one_does_not_raise(monkeypatch):
    monkeypatch.delenv(gauges.PUSHGATEWAY_ENV, raising=False)
    reference, current = frames(shift=0.0)
    assert gauges.export("churn", reference, current, ["age"], {}) is None
    dead = "http://127.0.0.1:9"  # discard port: connection refused
    assert gauges.export("churn", reference, current, ["age"], {}, dead) is None
