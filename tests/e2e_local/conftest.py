"""One plain `kfp-ct run` on the default data, shared by the tests that read what it left behind.

The run goes through the real console script in a fresh KFP_CT_HOME; its stdout and stderr are
kept, so the terminal-output test reads exactly what a person would have seen.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port

KFP_CT = str(Path(sys.executable).parent / "kfp-ct")
INTENDED_USE = "Rank customers by churn risk for the retention team"


@dataclass
class DefaultRun:
    home: Path
    env: dict
    proc: subprocess.CompletedProcess


def run_cli(env: dict, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([KFP_CT, *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def default_run(tmp_path_factory) -> DefaultRun:
    home = tmp_path_factory.mktemp("default-run") / "home"
    env = {**os.environ, "KFP_CT_HOME": str(home), "KFP_CT_PORT": str(free_port())}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = run_cli(env, "run", "--param", f"intended_use={INTENDED_USE}")
    yield DefaultRun(home, env, proc)
    run_cli(env, "stop", timeout=60)
