"""The chart and the kustomize manifests install the same things for the same configuration."""

from __future__ import annotations

import pytest

from tests.packaging.pkg_support import find, is_hook

# chart ci scenario -> kustomize target describing the same configuration.
PAIRS = {
    "default": "base",
    "kind": "overlays/kind",
    "gpu": "overlays/gpu",
    "production": "overlays/production",
}
# Helm creates the release namespace (`--create-namespace`); kustomize has a Namespace object.
KUSTOMIZE_ONLY_KINDS = {"Namespace"}


def _identities(docs: list[dict], drop_kinds: set[str] = frozenset()) -> set[tuple[str, str, str]]:
    return {
        (d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"])
        for d in docs
        if not is_hook(d) and d["kind"] not in drop_kinds
    }


@pytest.mark.parametrize(("scenario", "target"), PAIRS.items())
def test_same_kinds_and_objects(chart_renders, kustomize_renders, scenario, target):
    chart = chart_renders[scenario]
    kustomize = kustomize_renders[target]
    chart_ids = _identities(chart)
    kustomize_ids = _identities(kustomize, KUSTOMIZE_ONLY_KINDS)
    assert {k for k, _, _ in chart_ids} == {k for k, _, _ in kustomize_ids}
    assert chart_ids == kustomize_ids
    # Hooks (setup Job, helm test Pod) are the chart's extras, and nothing else is.
    assert {d["kind"] for d in chart if is_hook(d)} == {"Job", "Pod"}
    assert {d["kind"] for d in kustomize} - {k for k, _, _ in kustomize_ids} == {"Namespace"}


def _runtime_spec(docs: list[dict]) -> dict:
    spec = find(docs, "ServingRuntime", "kfp-ct")["spec"]
    containers = [{k: v for k, v in c.items() if k != "imagePullPolicy"} for c in spec["containers"]]
    return {**spec, "containers": containers}


def _mlflow_container(docs: list[dict]) -> dict:
    deployment = find(docs, "Deployment", "mlflow")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    return {
        "replicas": deployment["spec"]["replicas"],
        "strategy": deployment["spec"]["strategy"]["type"],
        "args": container["args"],
        "env": container["env"],
        "resources": container["resources"],
        "probes": [container[p] for p in ("startupProbe", "readinessProbe", "livenessProbe")],
        "volumes": pod.get("volumes") or [],
        "securityContext": {**pod["securityContext"], **container["securityContext"]},
    }


@pytest.mark.parametrize(("scenario", "target"), PAIRS.items())
def test_same_runtime_and_mlflow_settings(chart_renders, kustomize_renders, scenario, target):
    chart = chart_renders[scenario]
    kustomize = kustomize_renders[target]
    assert _runtime_spec(chart) == _runtime_spec(kustomize)
    assert _mlflow_container(chart) == _mlflow_container(kustomize)
    for kind, name in [("ConfigMap", "kfp-ct-config"), ("Role", "kfp-ct-deployer")]:
        chart_obj, kustomize_obj = find(chart, kind, name), find(kustomize, kind, name)
        assert chart_obj.get("data") == kustomize_obj.get("data")
        assert chart_obj.get("rules") == kustomize_obj.get("rules")
    for name in ("kfp-ct-s3", "kfp-ct-s3-storage"):
        chart_secret, kustomize_secret = (
            find(chart, "Secret", name),
            find(kustomize, "Secret", name),
        )
        assert chart_secret["stringData"] == kustomize_secret["stringData"]
        assert chart_secret["metadata"].get("annotations") == kustomize_secret["metadata"].get("annotations")
