"""Security checks the packaging tests do not already make, plus the model trust boundary.

tests/packaging checks non-root, no privilege escalation, dropped capabilities, no cluster-wide
kinds and no wildcard RBAC. Here: read-only root filesystems, no cluster-admin binding, no secret
in compiled pipelines, and that only allow-listed, hash-verified models are ever loaded.
"""

from __future__ import annotations

import re

import pytest
import yaml

from kfp_ct.errors import KfpCtError
from tests.packaging.pkg_support import (
    KUSTOMIZE_TARGETS,
    MANIFESTS,
    SCENARIOS,
    find_tool,
    helm_template_args,
    load_docs,
    pod_specs,
    run,
)

SECRET_PATTERNS = {
    "AWS access key": re.compile(r"AKIA[0-9A-Z]{16}"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "bearer token": re.compile(r"[Bb]earer\s+[A-Za-z0-9\-_.=]{20,}"),
    "password value": re.compile(r"(?i)(password|secret|token)\s*[:=]\s*['\"]?[A-Za-z0-9/+]{12,}"),
}
SECRET_PARAM = re.compile(r"(?i)password|secret|token|credential|access_key")


@pytest.fixture(scope="module")
def rendered() -> list[tuple[str, dict]]:
    """Every object of every chart scenario and kustomize target (pkg_support's own renders)."""
    helm, kubectl = find_tool("helm"), find_tool("kubectl")
    items = [
        (f"chart:{s}", d) for s in SCENARIOS for d in load_docs(run([helm, *helm_template_args(s)]).stdout)
    ]
    for target in KUSTOMIZE_TARGETS:
        items += [
            (f"kustomize:{target}", d)
            for d in load_docs(run([kubectl, "kustomize", str(MANIFESTS / target)]).stdout)
        ]
    return items


def test_read_only_root_filesystem(rendered, record):
    """Every container runs with a read-only root and writes only to emptyDirs at /tmp and HOME.

    Checked by rendering the chart and the overlays; that the image's processes run this way was
    not checked here (no container runtime): docs/security.md says so.
    """
    offenders = set()
    for src, doc in rendered:
        for pod, containers in pod_specs(doc):
            empty_dirs = {v["name"] for v in pod.get("volumes", []) if "emptyDir" in v}
            for c in containers:
                where = f"{src} {doc['kind']}/{doc['metadata']['name']}:{c['name']}"
                if c.get("securityContext", {}).get("readOnlyRootFilesystem") is not True:
                    offenders.add(f"{where} (root filesystem writable)")
                mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
                for path in ("/tmp", "/home/kfpct"):
                    if mounts.get(path) not in empty_dirs:
                        offenders.add(f"{where} (no emptyDir at {path})")
    record(
        "security",
        "readOnlyRootFilesystem on every container, emptyDirs at /tmp and HOME",
        f"{len(rendered)} rendered objects",
        f"{len(offenders)} containers without it" + (f", e.g. {sorted(offenders)[:2]}" if offenders else ""),
        "rendered only: not run in a container here",
    )
    assert not offenders, sorted(offenders)


def test_no_cluster_admin_and_least_privilege_rbac(rendered, record):
    bindings = [d for _, d in rendered if d["kind"] in {"RoleBinding", "ClusterRoleBinding"}]
    roles = [d for _, d in rendered if d["kind"] in {"Role", "ClusterRole"}]
    admin = [
        b["metadata"]["name"] for b in bindings if b["roleRef"]["name"] in {"cluster-admin", "admin", "edit"}
    ]
    secret_writers = [
        r["metadata"]["name"] for r in roles for rule in r.get("rules", [])
        if "secrets" in rule.get("resources", []) and set(rule.get("verbs", [])) - {"get", "list", "watch"}
    ]  # fmt: skip
    record(
        "security",
        "RBAC least privilege",
        f"{len(roles)} roles, {len(bindings)} bindings",
        f"admin-like bindings: {admin or 'none'}; roles writing Secrets: {secret_writers or 'none'}",
        "namespaced roles only",
    )
    assert roles and bindings and not admin and not secret_writers


def test_no_secret_in_compiled_pipelines(tmp_path, record):
    from kfp_ct.pipelines import compile_pipeline, names

    found, params = [], []
    for name in names():
        text = compile_pipeline(name, tmp_path / f"{name}.yaml").read_text()
        found += [f"{name}: {kind}" for kind, rx in SECRET_PATTERNS.items() if rx.search(text)]
        spec = next(yaml.safe_load_all(text))
        params += [
            f"{name}: {p}"
            for p in spec["root"].get("inputDefinitions", {}).get("parameters", {})
            if SECRET_PARAM.search(p)
        ]
    record(
        "security",
        "secrets in compiled pipeline YAML and parameters",
        f"{len(names())} pipelines compiled",
        f"secret-looking values: {found or 'none'}; secret-named parameters: {params or 'none'}",
        "credentials come from Kubernetes Secrets (use_secret_as_env)",
    )
    assert not found and not params


def test_untrusted_type_in_model_is_refused(tmp_path, record, monkeypatch):
    """A skops file holding a type outside SKOPS_TRUSTED_TYPES (here os.system) never loads."""
    import os

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")  # not ./mlflow.db

    import mlflow.sklearn
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    from kfp_ct.core.estimators import SKOPS_TRUSTED_TYPES

    evil = Pipeline([("f", FunctionTransformer(func=os.system))])
    widened = [*SKOPS_TRUSTED_TYPES, "posix.system", "nt.system"]
    mlflow.sklearn.save_model(
        evil, str(tmp_path / "evil"), serialization_format="skops", skops_trusted_types=widened
    )
    import mlflow.sklearn as loader

    from kfp_ct.steps.deploy import check_trusted

    with pytest.raises((KfpCtError, RuntimeError)) as info:
        check_trusted(tmp_path / "evil")
    message = str(info.value)
    assert "posix.system" in message and "SKOPS_TRUSTED_TYPES" in message
    loaded = loader.load_model(str(tmp_path / "evil"))  # MLflow alone honours the file's own list
    record(
        "security",
        "model file trusting os.system (skops, widened allowlist in MLmodel)",
        "checked by deploy before any load",
        f"{type(info.value).__name__}: {message[-120:]}",
        f"not deployed; mlflow.sklearn.load_model alone loads it ({type(loaded).__name__}): docs/security.md",
    )


def test_unhashed_model_is_not_deployed(tmp_path, record):
    from kfp_ct.steps.deploy import verify_artifact
    from kfp_ct.tracking.registry import VersionRef

    (tmp_path / "MLmodel").write_text("x")
    with pytest.raises((KfpCtError, RuntimeError)) as info:
        verify_artifact(VersionRef("m", "1", "models:/m/1", None, {}), tmp_path)
    record(
        "security",
        "registered version without a content hash",
        "no kfp_ct.model_sha256 tag",
        str(info.value),
        "not deployed",
    )
    assert "model_sha256" in str(info.value)
