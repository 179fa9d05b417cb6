"""A real mlflow 3.17 server with the manifests' --allowed-hosts accepts the pipelines' URI."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
from urllib.parse import urlsplit

import pytest
import yaml

from tests.packaging.pkg_support import MANIFESTS, find

API = "/api/2.0/mlflow/experiments/search?max_results=1"


def _wait_until_up(url: str, proc: subprocess.Popen, log) -> None:
    parts = urlsplit(url)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"mlflow server exited:\n{log.read_text()[-3000:]}"
        try:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=2)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"mlflow server did not come up:\n{log.read_text()[-3000:]}")


def _get(url: str, host: str) -> int:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("GET", API, headers={"Host": host})
    response = conn.getresponse()
    response.read()
    return response.status


@pytest.fixture(scope="module")
def server(mlflow_server):
    if mlflow_server is None:
        pytest.skip("mlflow is not installed in .venv")
    url, proc, log = mlflow_server
    _wait_until_up(url, proc, log)
    return url


def test_allowed_hosts_against_a_real_server(server):
    config = yaml.safe_load((MANIFESTS / "base" / "kfp-ct-config-configmap.yaml").read_text())
    tracking = urlsplit(config["data"]["MLFLOW_TRACKING_URI"])
    for host in (tracking.netloc, tracking.hostname, "mlflow.kfp-ct:5000", "mlflow:5000"):
        assert _get(server, host) == 200, host
    # The check is real: a foreign Host header is refused with 403.
    assert _get(server, "evil.example.com:5000") == 403


def test_helm_test_script_passes_against_a_real_server(server, chart_renders):
    pod = find(chart_renders["default"], "Pod")
    (container,) = pod["spec"]["containers"]
    assert container["command"] == ["python", "-c"]
    env = {**os.environ, "MLFLOW_TRACKING_URI": server}
    proc = subprocess.run(
        [sys.executable, "-c", container["args"][0]],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "answers API calls" in proc.stdout
