"""manifests/: one resource per file, small patches, pinned images, every overlay renders."""

from __future__ import annotations

import pytest
import yaml

from tests.packaging.pkg_support import MANIFESTS, OVERLAYS, PROJECT_VERSION, find

BASE = MANIFESTS / "base"


def _kustomization(directory):
    return yaml.safe_load((directory / "kustomization.yaml").read_text())


def test_overlays_present():
    assert set(OVERLAYS) == {"kind", "gpu", "production"}


def test_base_is_one_resource_per_file_named_app_kind():
    listed = _kustomization(BASE)["resources"]
    files = sorted(p.name for p in BASE.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(listed) == files
    for name in files:
        docs = [d for d in yaml.safe_load_all((BASE / name).read_text()) if d]
        assert len(docs) == 1, name
        doc = docs[0]
        assert name == f"{doc['metadata']['name']}-{doc['kind'].lower()}.yaml"


def test_base_has_the_issue_parts(kustomize_renders):
    kinds = {d["kind"] for d in kustomize_renders["base"]}
    assert kinds == {
        "Namespace",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ConfigMap",
        "Secret",
        "ServingRuntime",
        "Deployment",
        "Service",
        "PersistentVolumeClaim",
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_files_are_small_single_purpose_patches(overlay):
    directory = MANIFESTS / "overlays" / overlay
    kustomization = _kustomization(directory)
    assert "../../base" in kustomization["resources"]
    patches = [p["path"] for p in kustomization.get("patches", [])]
    assert patches, overlay
    referenced = set(patches) | {r for r in kustomization["resources"] if r.endswith(".yaml")}
    on_disk = {p.name for p in directory.glob("*.yaml")} - {"kustomization.yaml"}
    assert referenced == on_disk, "every file is used, every used file exists"
    for patch in patches:
        assert patch.endswith("_patch.yaml"), patch
        assert len((directory / patch).read_text().splitlines()) <= 30, f"{patch} is not small"


def test_images_pinned_with_kustomize_images():
    for directory in [BASE, *(MANIFESTS / "overlays" / o for o in OVERLAYS)]:
        images = _kustomization(directory)["images"]
        assert images == [{"name": "ghcr.io/kfp-ct/kfp-ct", "newTag": PROJECT_VERSION}]


def test_kind_overlay_is_small(kustomize_renders):
    base = kustomize_renders["base"]
    kind = kustomize_renders["overlays/kind"]
    for docs in (base, kind):
        find(docs, "Deployment", "mlflow")

    def mem(docs):
        container = find(docs, "Deployment", "mlflow")["spec"]["template"]["spec"]["containers"][0]
        return container["resources"]["requests"]["memory"]

    assert mem(kind) == "512Mi" and mem(base) == "768Mi"
