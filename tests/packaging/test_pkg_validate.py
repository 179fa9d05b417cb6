"""Every rendered object (all chart scenarios, all kustomize targets) is valid and safe."""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.packaging.pkg_support import pod_specs

# Kubernetes version of the kind node image (hack/common.sh) and of the schemas we check against.
K8S_VERSION = "1.36.0"
KSERVE_CRDS = {
    "ServingRuntime": "serving.kserve.io_servingruntimes.yaml",
    "ClusterServingRuntime": "serving.kserve.io_clusterservingruntimes.yaml",
    "InferenceService": "serving.kserve.io_inferenceservices.yaml",
}
PROJECT_IMAGE_REPOSITORY = "ghcr.io/kfp-ct/kfp-ct"


def _strict(schema: dict) -> dict:
    """Reject unknown fields like the API server's strict field validation does."""
    schema = copy.deepcopy(schema)

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if (
                node.get("type") == "object"
                and "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


@functools.cache
def _kserve_validator(path: Path, api_version: str) -> jsonschema.Draft7Validator:
    crd = yaml.safe_load(path.read_text())
    group = crd["spec"]["group"]
    for version in crd["spec"]["versions"]:
        if f"{group}/{version['name']}" == api_version:
            schema = _strict(version["schema"]["openAPIV3Schema"])
            # metadata is validated by the API server, not by the CRD schema.
            schema["properties"]["metadata"] = {"type": "object"}
            return jsonschema.Draft7Validator(schema)
    raise AssertionError(f"{api_version} is not served by {path.name}")


def _label(source: str, doc: dict) -> str:
    meta = doc.get("metadata", {})
    return f"{source} {doc.get('kind')} {meta.get('namespace', '')}/{meta.get('name')}"


def test_renders_are_not_empty(all_rendered):
    sources = {source for source, _ in all_rendered}
    assert len(sources) >= 8, sources
    assert len(all_rendered) > 60


def test_every_object_validates(all_rendered, kserve_schema_dir):
    errors = []
    for source, doc in all_rendered:
        kind = doc.get("kind")
        if kind in KSERVE_CRDS:
            validator = _kserve_validator(kserve_schema_dir / KSERVE_CRDS[kind], doc["apiVersion"])
            errors += [
                f"{_label(source, doc)}: {'/'.join(map(str, e.path))}: {e.message}"
                for e in validator.iter_errors(doc)
            ]
        else:
            try:
                kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
            except kubernetes_validate.ValidationError as e:
                errors.append(f"{_label(source, doc)}: {e.message} at {list(e.path)}")
            except kubernetes_validate.SchemaNotFoundError:
                errors.append(f"{_label(source, doc)}: no schema for {doc.get('apiVersion')}")
    assert not errors, "\n".join(errors)


def test_strict_validation_can_fail(kserve_schema_dir):
    """The validators reject a typo and a wrong type (so the test above can fail)."""
    runtime = {
        "apiVersion": "serving.kserve.io/v1alpha1",
        "kind": "ServingRuntime",
        "metadata": {"name": "x"},
        "spec": {"containers": [{"name": "c", "image": "i:1"}], "nodSelector": {}},
    }
    validator = _kserve_validator(
        kserve_schema_dir / KSERVE_CRDS["ServingRuntime"], "serving.kserve.io/v1alpha1"
    )
    assert list(validator.iter_errors(runtime))
    bad_pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "x"},
        "spec": {"containers": [{"name": "c", "image": "i:1", "ports": [{"port": "x"}]}]},
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad_pod, K8S_VERSION, strict=True)


def test_no_container_runs_as_root(all_rendered):
    offenders = []
    for source, doc in all_rendered:
        for pod, containers in pod_specs(doc):
            pod_ctx = pod.get("securityContext", {})
            for c in containers:
                ctx = {**pod_ctx, **c.get("securityContext", {})}
                if (
                    ctx.get("runAsNonRoot") is not True
                    or ctx.get("runAsUser", 1000) == 0
                    or ctx.get("allowPrivilegeEscalation") is not False
                    or ctx.get("privileged", False)
                    or "ALL" not in ctx.get("capabilities", {}).get("drop", [])
                ):
                    offenders.append(f"{_label(source, doc)} container {c['name']}: {ctx}")
    assert not offenders, "\n".join(offenders)


def test_every_container_has_requests_and_limits(all_rendered):
    offenders = []
    for source, doc in all_rendered:
        for _, containers in pod_specs(doc):
            for c in containers:
                res = c.get("resources", {})
                for part in ("requests", "limits"):
                    if not {"cpu", "memory"} <= set(res.get(part, {})):
                        offenders.append(f"{_label(source, doc)} {c['name']}: no {part}")
    assert not offenders, "\n".join(offenders)


def test_images_are_pinned(all_rendered):
    offenders = []
    workloads = 0
    for source, doc in all_rendered:
        for _, containers in pod_specs(doc):
            workloads += 1
            for c in containers:
                image = c["image"]
                name, _, tag = image.rpartition(":")
                if "/" in tag or not name or tag in {"", "latest"} or "@" in image:
                    offenders.append(f"{_label(source, doc)} {c['name']}: {image}")
                elif name != PROJECT_IMAGE_REPOSITORY:
                    offenders.append(f"{_label(source, doc)} {c['name']}: foreign image {image}")
    assert workloads > 20
    assert not offenders, "\n".join(offenders)


def test_nothing_cluster_wide(all_rendered):
    kinds = {doc["kind"] for _, doc in all_rendered}
    assert not kinds & {"ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
    for source, doc in all_rendered:
        for rule in doc.get("rules", []):
            for field in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule.get(field, []), f"{_label(source, doc)}: wildcard {field}"


def test_no_real_secrets_in_templates(all_rendered):
    for source, doc in all_rendered:
        if doc["kind"] == "Secret":
            assert "data" not in doc, _label(source, doc)
            for key, value in doc["stringData"].items():
                assert "REPLACE_ME" in value, f"{_label(source, doc)}: {key} is not a placeholder"
