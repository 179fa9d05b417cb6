"""The chart's and the kustomize component's PodMonitor and PrometheusRule.

Both are checked against the prometheus-operator models of `cloudcoil-models-prometheus-operator`
(PyPI, pydantic models generated from the operator's CRDs: a parse that drops a field means the
CRD has no such field), and every metric an alert reads must be one kfp-ct really produces.
"""

from __future__ import annotations

import os
import re

import pytest

from tests.packaging.pkg_support import CHART, MANIFESTS, NAMESPACE, RELEASE, find, load_docs, run

KINDS = ("PodMonitor", "PrometheusRule")


@pytest.fixture(scope="module")
def chart_objects(helm):
    out = run(
        [helm, "template", RELEASE, CHART, "--namespace", NAMESPACE, "--set", "monitoring.enabled=true"]
    )
    docs = load_docs(out.stdout)
    return {kind: find(docs, kind) for kind in KINDS}


@pytest.fixture(scope="module")
def kustomize_objects(kubectl, tmp_path_factory):
    """base plus the component, rendered from a kustomization outside the repository."""
    work = tmp_path_factory.mktemp("kustomize-prometheus")
    base = os.path.relpath(MANIFESTS / "base", work)
    component = os.path.relpath(MANIFESTS / "components" / "prometheus", work)
    (work / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources:\n  - {base}\ncomponents:\n  - {component}\n"
    )
    docs = load_docs(run([kubectl, "kustomize", work]).stdout)
    return {kind: find(docs, kind) for kind in KINDS}


def operator_model(kind: str):
    from cloudcoil.models.prometheus_operator import v1

    return getattr(v1, kind)


def assert_valid(obj: dict) -> None:
    """Parse into the operator's model; the round trip must keep every field (no unknown ones)."""
    parsed = operator_model(obj["kind"]).model_validate(obj)
    again = parsed.model_dump(by_alias=True, exclude_unset=True, mode="json")
    assert again == obj, f"{obj['kind']}: fields the CRD does not know were dropped"


def test_default_chart_ships_no_monitoring_objects(helm):
    docs = load_docs(run([helm, "template", RELEASE, CHART, "--namespace", NAMESPACE]).stdout)
    assert not [d for d in docs if d["kind"] in KINDS]


@pytest.mark.parametrize("source", ["chart", "kustomize"])
@pytest.mark.parametrize("kind", KINDS)
def test_objects_match_the_operator_schema(chart_objects, kustomize_objects, source, kind):
    obj = (chart_objects if source == "chart" else kustomize_objects)[kind]
    assert_valid(obj)


def test_a_typo_is_caught_by_the_check(chart_objects):
    broken = {**chart_objects["PodMonitor"]}
    broken["spec"] = {**broken["spec"], "podMetricEndpoints": broken["spec"]["podMetricsEndpoints"]}
    with pytest.raises(AssertionError, match="dropped"):
        assert_valid(broken)


def test_chart_and_kustomize_agree(chart_objects, kustomize_objects):
    for kind in KINDS:
        assert chart_objects[kind]["spec"] == kustomize_objects[kind]["spec"]


def test_podmonitor_selects_the_serving_pods(chart_objects):
    from kfp_ct.cluster import inferenceservice as isvc

    spec = chart_objects["PodMonitor"]["spec"]
    predictor = isvc.predictor_spec("s3://b/m/1", "kfp-ct")
    assert spec["selector"]["matchLabels"].items() <= predictor["labels"].items()
    assert "labels" not in isvc.predictor_spec("s3://b/m/1", "kserve-mlserver")  # no kfp-ct metrics
    assert spec["podMetricsEndpoints"] == [{"portNumber": 8080, "path": "/metrics", "interval": "30s"}]


def test_alerts_carry_the_seed_thresholds_over_produced_metrics(chart_objects, monkeypatch):
    import pandas as pd
    from prometheus_client import REGISTRY

    from kfp_ct.drift import gauges
    from kfp_ct.serving import metrics

    served = {n for c in (metrics.REQUESTS, metrics.LATENCY) for n in REGISTRY._collector_to_names[c]}
    pushed: set[str] = set()
    monkeypatch.setattr(
        "prometheus_client.push_to_gateway",
        lambda gateway, job, registry, **kw: pushed.update(
            s.name for m in registry.collect() for s in m.samples
        ),
    )
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    gauges.export("m", frame, frame, ["x"], {"metric": "accuracy", "champion": 0.9, "live": 0.8}, "http://pg")
    rules = {
        r["alert"]: r["expr"] for g in chart_objects["PrometheusRule"]["spec"]["groups"] for r in g["rules"]
    }
    expected = {
        "KfpCtLatencyP99High": "> 0.1",
        "KfpCtSuccessRateLow": "< 0.99",
        "KfpCtFeaturePsiHigh": "> 0.2",
        "KfpCtLiveMetricBelowTraining": "> 0.05",
    }
    assert set(rules) == set(expected)
    for alert, threshold in expected.items():
        assert rules[alert].endswith(threshold), rules[alert]
        for name in re.findall(r"kfp_ct_[a-z_]+", rules[alert]):
            assert name in served | pushed, f"{alert} reads {name}, which nothing produces"
