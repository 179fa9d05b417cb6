"""The server's Prometheus metrics, scraped from a real server's `/metrics` over HTTP."""

from __future__ import annotations

import time
from collections import Counter

import httpx
from prometheus_client.parser import text_string_to_metric_families

from kfp_ct.serving import metrics
from kfp_ct.serving.client import infer_v1, infer_v2


def scrape(url: str) -> dict[str, list]:
    """Family name -> samples, parsed with prometheus_client's own text parser."""
    text = httpx.get(f"{url}/metrics", timeout=10, trust_env=False).text
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def value(families, family, sample, **labels) -> float:
    samples = families.get(family, [])
    return sum(s.value for s in samples if s.name == sample and labels.items() <= s.labels.items())


def test_counts_latency_errors_and_classes_over_http(server):
    url, _, x = server
    rows = x.head(4)
    answers = [infer_v2(url, "churn", rows) for _ in range(3)]
    v1 = infer_v1(url, "churn", rows)
    version = answers[0].model_version
    refused = httpx.post(f"{url}/v2/models/churn/infer", content=b"{not json", trust_env=False)
    assert refused.status_code == 400
    unknown = httpx.post(f"{url}/v2/models/nope/infer", json={"inputs": []}, trust_env=False)
    assert unknown.status_code == 404

    families = scrape(url)
    ok = {"model": "churn", "version": version}
    assert value(families, "kfp_ct_requests", "kfp_ct_requests_total", code="200", **ok) == 4
    assert value(families, "kfp_ct_requests", "kfp_ct_requests_total", model="churn", code="400") == 1
    assert value(families, "kfp_ct_requests", "kfp_ct_requests_total", model="_not_found", code="404") == 1
    assert not [s for f in families.values() for s in f if s.labels.get("model") == "nope"]
    assert value(families, "kfp_ct_request_errors", "kfp_ct_request_errors_total", model="churn",
                 kind="refused") == 1  # fmt: skip
    assert value(families, "kfp_ct_request_errors", "kfp_ct_request_errors_total", kind="failed") == 0
    hist = "kfp_ct_request_duration_seconds"
    assert value(families, hist, hist + "_count", **ok) == 5  # every answer, the refused one too
    assert 0 < value(families, hist, hist + "_sum", **ok) < 5 * 2.5
    buckets = {s.labels["le"] for s in families[hist] if s.name == hist + "_bucket"}
    assert {"0.0005", "0.1", "2.5", "+Inf"} <= buckets
    # Predicted classes: exactly what the server answered (3 V2 + 1 V1 requests of 4 rows).
    expected = Counter(str(p) for a in answers for p in a.predictions) + Counter(map(str, v1))
    classes = families["kfp_ct_predictions"]
    got = {s.labels["class"]: s.value for s in classes if s.labels["version"] == version}
    assert got == dict(expected)
    # KServe's own /metrics still serves beside ours; the capture counters are declared.
    kserve = "request_predict_seconds"
    assert value(families, kserve, kserve + "_count", model_name="churn") >= 3
    assert {"kfp_ct_capture_records", "kfp_ct_capture_dropped"} <= families.keys()


def test_no_name_collides_with_kserve():
    import kserve.metrics  # noqa: F401  (registers KServe's metrics in the default registry)
    from prometheus_client import REGISTRY

    ours = {metrics.REQUESTS, metrics.ERRORS, metrics.LATENCY, metrics.PREDICTIONS}
    names = [name for c in ours for name in REGISTRY._collector_to_names[c]]
    assert all(name.startswith("kfp_ct_") for name in names)
    others = {n for c, ns in REGISTRY._collector_to_names.items() if c not in ours for n in ns}
    assert not others & set(names)


def test_regression_answers_count_no_classes():
    from kserve.protocol.infer_type import InferOutput

    outputs = [InferOutput("predict", [2], "FP64", [0.5, 1.5])]
    assert metrics.predicted_classes("v2", outputs) is None
    assert metrics.predicted_classes("v1", {"predictions": [0.5]}) is None
    labels = [InferOutput("predict", [2], "INT64", [0, 1])]
    assert metrics.predicted_classes("v2", labels) == [0, 1]


def test_observe_is_cheap():
    """The added cost per answer (measured, printed): well under 50 us."""
    from kserve.protocol.infer_type import InferOutput

    answer = ("v2", None, [InferOutput("predict", [1], "INT64", [1]),
                           InferOutput("predict_proba", [1, 2], "FP64", [0.2, 0.8])], None)  # fmt: skip
    n = 20000
    start = time.perf_counter()
    for _ in range(n):
        metrics.observe("bench", "1", 200, 0.003, answer)
    per_call_us = (time.perf_counter() - start) / n * 1e6
    print(f"metrics.observe: {per_call_us:.2f} us per answer")
    assert per_call_us < 50
