"""The local server's port: KFP_CT_PORT when set (taken: fail before training), else a free one."""

from __future__ import annotations

import json
import logging
import socket
import time

import pytest

from kfp_ct.deploy.targets import local
from kfp_ct.errors import ParameterError


@pytest.fixture
def taken():
    """A port another program listens on."""
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("KFP_CT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KFP_CT_PORT", raising=False)
    return tmp_path / "home"


def state(port: int, pid: int = 999_999_999, stopped: bool = False) -> local.ServerState:
    return local.ServerState(pid, port, port + 1, "log", time.time(), str(local.repository_dir()), stopped)


def test_explicit_port_taken_fails_before_training(home, taken, monkeypatch):
    monkeypatch.setenv("KFP_CT_PORT", str(taken))
    with pytest.raises(ParameterError, match=f"port {taken} \\(KFP_CT_PORT\\) is in use by another program"):
        local.preflight()


def test_explicit_port_of_this_homes_own_server_is_fine(home, taken, monkeypatch):
    monkeypatch.setenv("KFP_CT_PORT", str(taken))
    monkeypatch.setattr(local, "read_state", lambda: state(taken))
    local.preflight()


def test_no_explicit_port_no_check(home):
    local.preflight()  # nothing to check: a free port is chosen at deploy time


@pytest.mark.parametrize("raw", ["http", "0", "70000"])
def test_explicit_port_must_be_a_port(home, monkeypatch, raw):
    monkeypatch.setenv("KFP_CT_PORT", raw)
    with pytest.raises(ParameterError, match="is not a TCP port number"):
        local.preflight()


def test_default_port_taken_picks_a_free_one_and_says_so(home, taken, monkeypatch, caplog):
    monkeypatch.setattr(local, "DEFAULT_PORT", taken)
    with caplog.at_level(logging.WARNING, logger=local.__name__):
        port, grpc = local.choose_ports(None)
    assert port != taken and local.port_free(port) and grpc != port
    assert f"port {taken} is in use by another program; serving on port {port} instead" in caplog.text


def test_recorded_port_is_preferred(home, taken, monkeypatch):
    with socket.socket() as probe:
        probe.bind(("0.0.0.0", 0))
        recorded = probe.getsockname()[1]
    monkeypatch.setattr(local, "DEFAULT_PORT", taken)
    assert local.choose_ports(state(recorded, stopped=True))[0] == recorded


def test_explicit_port_taken_at_deploy_time_fails(home, taken, monkeypatch):
    monkeypatch.setenv("KFP_CT_PORT", str(taken))
    with pytest.raises(local.DeployError, match="in use by another program"):
        local.choose_ports(None)


def test_a_state_file_of_the_earlier_layout_is_retired(home):
    path = local.state_path()
    path.parent.mkdir(parents=True)
    legacy = {"pid": 999_999_999, "port": 8080, "model_name": "m", "model_version": "1", "model_dir": "/x"}
    path.write_text(json.dumps(legacy))
    assert local._recorded() is None and local.read_state() is None
    local._retire_legacy()
    assert not path.exists()
