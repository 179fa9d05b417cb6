"""Two projects (two KFP_CT_HOME) on one machine, KFP_CT_PORT unset: both run and serve.

The first takes 8080 when it is free; the second finds it taken by a server that is not its
own and picks a free port, records it, and `kfp-ct status` of each shows its own endpoint. A
port set explicitly and taken fails the run before any training.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

import pytest

from kfp_ct.data.io import write_table
from kfp_ct.data.synth import SynthSpec, make_dataset

from .helpers import FAST, features, kfp_ct, served_version

pytestmark = pytest.mark.slow
MODEL = "kfp-ct-model"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_table(make_dataset(SynthSpec(rows=1500, seed=5)), tmp_path_factory.mktemp("d") / "d.csv")


def env_of(home) -> dict:
    return {"KFP_CT_HOME": str(home), "MLFLOW_TRACKING_URI": "", "KFP_CT_PORT": ""}


@pytest.fixture(scope="module")
def homes(tmp_path_factory, data):
    root = tmp_path_factory.mktemp("homes")
    envs = [env_of(root / "a"), env_of(root / "b")]
    try:
        runs = [kfp_ct("run", "--data", str(data), "--json", *FAST, env=e) for e in envs]
        yield envs, runs
    finally:
        for e in envs:
            kfp_ct("stop", env=e)


def test_both_homes_run_and_serve_on_their_own_ports(homes, data):
    envs, runs = homes
    for run in runs:
        assert run.code == 0, run.stderr[-3000:]
        assert run.summary["decision"] == "first-model" and run.summary["champion_version"] == "1"
    endpoints = [r.summary["endpoint"] for r in runs]
    assert endpoints[0] != endpoints[1] and all(e.startswith("http://127.0.0.1:") for e in endpoints)
    for endpoint in endpoints:
        assert served_version(endpoint, MODEL, features(data)) == "1"
    for e, endpoint in zip(envs, endpoints, strict=True):
        recorded = json.loads((Path(e["KFP_CT_HOME"]) / "serving" / "state.json").read_text())
        assert f"http://127.0.0.1:{recorded['port']}" == endpoint  # the port is recorded


def test_status_shows_each_homes_endpoint(homes):
    envs, runs = homes
    for e, run in zip(envs, runs, strict=True):
        status = kfp_ct("status", "--json", env=e)
        assert status.code == 0, status.stderr[-2000:]
        assert status.summary["endpoint"] == run.summary["endpoint"]
        assert status.summary["serving_version"] == "1" and status.summary["champion"] == "1"


def test_explicit_port_taken_fails_before_training(tmp_path, data):
    home = tmp_path / "c"
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        sock.listen()
        port = sock.getsockname()[1]
        start = time.monotonic()
        result = kfp_ct(
            "run", "--data", str(data), "--json", *FAST, env={**env_of(home), "KFP_CT_PORT": str(port)}
        )
        seconds = time.monotonic() - start
    assert result.code == 2, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert (
        f"port {port} (KFP_CT_PORT) is in use by another program" in last and "Traceback" not in result.stderr
    )
    assert not (home / "pipeline-root").exists() and not (home / "mlartifacts").exists()  # nothing trained
    assert seconds < 60


def test_serve_restarts_a_killed_server_on_the_champion(homes, data):
    envs, runs = homes
    path = Path(envs[0]["KFP_CT_HOME"]) / "serving" / "state.json"
    before = json.loads(path.read_text())
    os.kill(before["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while Path(f"/proc/{before['pid']}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)  # (a zombie until its parent, long gone, is replaced by init)
        status = Path(f"/proc/{before['pid']}/stat")
        if status.exists() and status.read_text().rsplit(")", 1)[1].split()[0] == "Z":
            break
    served = kfp_ct("serve", "--detach", env=envs[0])
    assert served.code == 0, served.stderr[-2000:]
    after = json.loads(path.read_text())
    assert after["pid"] != before["pid"] and after["port"] == before["port"]  # same endpoint
    assert served_version(runs[0].summary["endpoint"], MODEL, features(data)) == "1"
