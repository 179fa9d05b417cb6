"""Helpers and constants shared by the packaging tests (imported by conftest and tests)."""

from __future__ import annotations

import os
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "kfp-ct"
MANIFESTS = ROOT / "manifests"
HACK = ROOT / "hack"
TOOLS_BIN = ROOT / ".tools" / "bin"
VENV_BIN = ROOT / ".venv" / "bin"
RELEASE = "kfp-ct"
NAMESPACE = "kfp-ct"
SCENARIOS = sorted(p.name.removesuffix("-values.yaml") for p in (CHART / "ci").glob("*-values.yaml"))
OVERLAYS = sorted(p.name for p in (MANIFESTS / "overlays").iterdir() if p.is_dir())
# Kustomize sources rendered besides the overlays.
KUSTOMIZE_TARGETS = ["base", *(f"overlays/{o}" for o in OVERLAYS)]
PROJECT_VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def missing_tool(what: str) -> None:
    """Fail under CI (every tool must be installed by the repo), skip elsewhere."""
    message = f"{what} is not installed (run `make tools` / `make setup`)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def find_tool(name: str) -> Path:
    """A tool from .tools/bin or .venv/bin (never a stray system copy)."""
    for directory in (TOOLS_BIN, VENV_BIN):
        candidate = directory / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    missing_tool(name)
    raise AssertionError("unreachable")


def run(
    cmd: list[str | Path], check: bool = True, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command, returning its output; on failure the assertion shows stderr."""
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=120, cwd=cwd)
    if check:
        assert proc.returncode == 0, f"{cmd} failed ({proc.returncode}):\n{proc.stderr}"
    return proc


def load_docs(text: str) -> list[dict]:
    """All non-empty YAML documents of a rendered stream."""
    return [d for d in yaml.safe_load_all(text) if d]


def is_hook(doc: dict) -> bool:
    """Helm hook objects (setup Job, test Pod) exist only in the chart, by design."""
    return "helm.sh/hook" in (doc.get("metadata", {}).get("annotations") or {})


def helm_template_args(scenario: str) -> list[str]:
    """Arguments of `helm template` for one ci/<scenario>-values.yaml."""
    values = CHART / "ci" / f"{scenario}-values.yaml"
    return ["template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--values", str(values)]


def pod_specs(doc: dict) -> Iterator[tuple[dict, list[dict]]]:
    """(pod-level spec, containers incl. init containers) of a workload or runtime object."""
    kind = doc["kind"]
    spec = doc.get("spec", {})
    if kind == "Pod":
        pod = spec
    elif kind in {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}:
        pod = spec["template"]["spec"]
    elif kind == "CronJob":
        pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    elif kind in {"ServingRuntime", "ClusterServingRuntime"}:
        pod = spec
    else:
        return
    yield pod, [*pod.get("initContainers", []), *pod.get("containers", [])]


def find(docs: list[dict], kind: str, name: str | None = None) -> dict:
    """The one object of a kind (and name) in a render."""
    matches = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]
