"""docs/cluster.md and docs/gpu-node-pools.md: commands refer to files that exist."""

from __future__ import annotations

import re

import pytest

from tests.packaging.pkg_support import ROOT

DOCS = ["docs/cluster.md", "docs/gpu-node-pools.md"]


@pytest.mark.parametrize("doc", DOCS)
def test_referenced_paths_exist(doc):
    text = (ROOT / doc).read_text()
    paths = set(re.findall(r"\b((?:hack|charts|manifests|docs)/[\w./-]*\w)", text))
    assert paths, doc
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert not missing, f"{doc} refers to missing paths: {missing}"


def test_cluster_doc_is_marked_not_exercised_in_ci():
    text = (ROOT / "docs/cluster.md").read_text()
    assert "not exercised in this repository's ci" in text.lower()
    for command in ("bash hack/e2e.sh", "helm install", "kubectl apply -k", "kfp-ct submit"):
        assert command in text, command


def test_gpu_doc_matches_the_gpu_profile():
    text = (ROOT / "docs/gpu-node-pools.md").read_text()
    for needle in ("pool=gpu", "nvidia.com/gpu=present:NoSchedule", "gpu-operator"):
        assert needle in text, needle
