"""Fixtures for the packaging tests: every chart scenario and overlay is rendered once."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from tests.packaging.pkg_support import (
    KUSTOMIZE_TARGETS,
    MANIFESTS,
    ROOT,
    SCENARIOS,
    find_tool,
    helm_template_args,
    load_docs,
    missing_tool,
    run,
)


@pytest.fixture(scope="session")
def helm() -> Path:
    return find_tool("helm")


@pytest.fixture(scope="session")
def kubectl() -> Path:
    return find_tool("kubectl")


@pytest.fixture(scope="session")
def chart_renders(helm: Path) -> dict[str, list[dict]]:
    """scenario -> objects rendered by `helm template` (hooks included)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        outputs = dict(
            zip(
                SCENARIOS,
                pool.map(lambda s: run([helm, *helm_template_args(s)]).stdout, SCENARIOS),
                strict=True,
            )
        )
    return {s: load_docs(out) for s, out in outputs.items()}


@pytest.fixture(scope="session")
def kustomize_renders(kubectl: Path) -> dict[str, list[dict]]:
    """'base' / 'overlays/<name>' -> objects rendered by `kubectl kustomize`."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        outputs = dict(
            zip(
                KUSTOMIZE_TARGETS,
                pool.map(
                    lambda t: run([kubectl, "kustomize", str(MANIFESTS / t)]).stdout,
                    KUSTOMIZE_TARGETS,
                ),
                strict=True,
            )
        )
    return {t: load_docs(out) for t, out in outputs.items()}


@pytest.fixture(scope="session")
def all_rendered(
    chart_renders: dict[str, list[dict]], kustomize_renders: dict[str, list[dict]]
) -> list[tuple[str, dict]]:
    """(source, object) for every object of every chart scenario and kustomize target."""
    items = [(f"chart:{s}", d) for s, docs in chart_renders.items() for d in docs]
    items += [(f"kustomize:{t}", d) for t, docs in kustomize_renders.items() for d in docs]
    return items


@pytest.fixture(scope="session")
def kserve_schema_dir() -> Path:
    """KServe v0.20 CRDs, read from the shared folder (never copied into this repository)."""
    directory = Path(
        os.environ.get("KFP_CT_KSERVE_SCHEMAS", ROOT.parent / "shared" / "schemas" / "kserve-v0.20")
    )
    if not (directory / "serving.kserve.io_servingruntimes.yaml").is_file():
        missing_tool(f"KServe CRD schemas in {directory} (set KFP_CT_KSERVE_SCHEMAS)")
    return directory


@pytest.fixture(scope="session")
def shellcheck() -> Path:
    return find_tool("shellcheck")


@pytest.fixture(scope="session")
def bash() -> str:
    path = shutil.which("bash")
    if path is None:
        missing_tool("bash")
    return str(path)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session", autouse=True)
def mlflow_server(tmp_path_factory):
    """A real `mlflow server` with the manifests' --allowed-hosts, started at session start.

    It takes 10-20 s to come up, so it starts before the first test and is awaited only by the
    test that uses it. Yields (base URL, process); the process group is ended at session end.
    """
    deployment = yaml.safe_load((MANIFESTS / "base" / "mlflow-deployment.yaml").read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    mlflow = ROOT / ".venv" / "bin" / "mlflow"
    if not mlflow.exists():
        yield None
        return
    work = tmp_path_factory.mktemp("mlflow")
    port = _free_port()
    cmd = [
        str(mlflow),
        "server",
        "--host=127.0.0.1",
        f"--port={port}",
        "--workers=1",
        f"--backend-store-uri=sqlite:///{work}/mlflow.db",
        f"--artifacts-destination={work}/artifacts",
        f"--allowed-hosts={env['MLFLOW_SERVER_ALLOWED_HOSTS']}",
    ]
    log = (work / "server.log").open("w")
    proc = subprocess.Popen(cmd, cwd=work, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield f"http://127.0.0.1:{port}", proc, work / "server.log"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        log.close()
