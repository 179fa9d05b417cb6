"""Shared fixtures: an isolated KFP_CT_HOME per test, free ports, synthetic data.

Tests marked `cluster` need a real Kubernetes cluster and run only when a kubeconfig exists.

`make test` runs the suite on two pytest-xdist workers with `--dist loadfile`: a test file is one
unit of work, so a module fixture (often a whole pipeline run) runs once, on one worker; the files
that read the one session-wide `kfp-ct run` (`default_run`) are one unit together, so that run
happens once too (`DEFAULT_RUN_FILES`, checked at collection).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from kfp_ct.data.io import write_table
from kfp_ct.data.synth import SynthSpec, make_dataset


def _kubeconfig_present() -> bool:
    path = os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    return any(Path(p).is_file() for p in path.split(os.pathsep))


DEFAULT_RUN_FILES = frozenset(
    f"tests/e2e_local/{name}.py"
    for name in ("test_mlflow_clients", "test_model_card", "test_report", "test_run_output")
)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadfile`, with the `default_run` files as one unit (xdist's own groups need pytest < 9)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class DefaultRunTogether(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = super()._split_scope(nodeid)
            return "default_run" if path in DEFAULT_RUN_FILES else path

    return DefaultRunTogether(config, log)


def pytest_collection_modifyitems(config, items):
    readers = {item.nodeid.split("::", 1)[0] for item in items if "default_run" in item.fixturenames}
    if readers - DEFAULT_RUN_FILES:
        missing = sorted(readers - DEFAULT_RUN_FILES)
        raise pytest.UsageError(f"add {missing} to DEFAULT_RUN_FILES in tests/conftest.py")
    if _kubeconfig_present():
        return
    skip = pytest.mark.skip(reason="needs a Kubernetes cluster (no kubeconfig found)")
    for item in items:
        if item.get_closest_marker("cluster") is not None:
            item.add_marker(skip)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def kfp_home(tmp_path, monkeypatch) -> Path:
    """A fresh KFP_CT_HOME with its own sqlite MLflow store and serving port."""
    home = tmp_path / "home"
    monkeypatch.setenv("KFP_CT_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("KFP_CT_PORT", str(free_port()))
    yield home
    from kfp_ct.deploy.targets.local import LocalTarget

    LocalTarget().stop()


@pytest.fixture(scope="session")
def binary_frame():
    return make_dataset(SynthSpec(rows=1500, seed=7))


@pytest.fixture
def data_file(tmp_path, binary_frame) -> Path:
    return write_table(binary_frame, tmp_path / "data.csv")
