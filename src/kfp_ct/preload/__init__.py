"""Steps of a local run forked from one warm Python: kfp.local's runner, without 3 s of imports a step.

kfp.local's `SubprocessRunner` starts each step as `python -m kfp.dsl.executor_main ...`, a new
interpreter that imports pandas, scikit-learn, MLflow and its SQL store again (about 3 s a step
on 2 cores, most of a small step's time). During `kfp-ct run` a preload server
(`kfp_ct.preload.server`) imports those once and waits on a Unix socket; the runner's command
starts `python -m kfp_ct.preload.launcher -m kfp.dsl.executor_main ...` instead, which hands its
arguments, environment, working directory and standard streams to the server. The server forks;
the child runs the same `executor_main` with the same arguments in the launcher's environment
and reports its exit status, which the launcher exits with (it forwards SIGINT and SIGTERM).

The pipeline, the runner, the component code and the executor are KFP's own and unchanged, and
every step is still its own process; only interpreter start and imports are shared. Where the
server is not up (it failed, or preloading is off) the launcher runs the real interpreter, so a
step never depends on it. `KFP_CT_PRELOAD=off` turns it off; it is on by default on Linux only
(fork after these imports is not safe on macOS).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

log = logging.getLogger(__name__)

PRELOAD_ENV = "KFP_CT_PRELOAD"  # on | off (default: on on Linux)
SOCKET_ENV = "KFP_CT_PRELOAD_SOCKET"  # set for the steps of one run: the server's socket
SERVER_PID_ENV = "KFP_CT_PRELOAD_PID"  # the server's pid: a launcher stops waiting once it is gone
PYTHON_ENV = "KFP_CT_PRELOAD_PYTHON"  # the real interpreter, for the launcher's fallback
# What the steps import (lazily, inside their functions): imported once by the server.
PRELOAD = (
    "kfp.dsl.executor_main",
    "pandas",
    "pyarrow.parquet",
    "sklearn.metrics",
    "sklearn.model_selection",
    "pandera.pandas",
    "mlflow",
    "mlflow.sklearn",
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.store.model_registry.sqlalchemy_store",
    "skops.io._trusted_types",
    "matplotlib.figure",
    "kfp_ct.steps.validate",
    "kfp_ct.steps.train",
    "kfp_ct.steps.evaluate",
    "kfp_ct.steps.compare",
    "kfp_ct.steps.register",
    "kfp_ct.steps.deploy",
    "kfp_ct.steps.drift_check",
    "kfp_ct.steps.monitor",
    "kfp_ct.steps.report",
    "kfp_ct.steps.notify",
)


def enabled() -> bool:
    """Whether `kfp-ct run` forks its steps from a preload server (KFP_CT_PRELOAD, else Linux)."""
    value = os.environ.get(PRELOAD_ENV, "").strip().lower()
    if value in ("0", "off", "false", "no"):
        return False
    if value in ("1", "on", "true", "yes"):
        return hasattr(os, "fork")
    return sys.platform == "linux"


def launcher_command(python: str) -> str:
    """What replaces `python3` in a step's command: the launcher, run by `python`."""
    return f"{shlex.quote(python)} -m kfp_ct.preload.launcher"


@contextlib.contextmanager
def preloaded_steps() -> Iterator[bool]:
    """For the block, kfp.local runs steps through the launcher and a preload server; yields whether.

    The server starts here and imports between steps (a step that comes first gets what is in
    so far); it is stopped, and its socket removed, when the block ends.
    """
    from kfp.local import subprocess_task_handler as handler

    replace = getattr(handler, "replace_python_executable", None)
    if not enabled() or replace is None:
        yield False
        return
    python = sys.executable
    folder = Path(tempfile.mkdtemp(prefix="kfp-ct-preload-"))
    socket_path = folder / "steps.sock"
    server_log = folder / "server.log"
    with server_log.open("wb") as out:
        server = subprocess.Popen(
            [python, "-m", "kfp_ct.preload.server", str(socket_path)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    env = {SOCKET_ENV: str(socket_path), SERVER_PID_ENV: str(server.pid), PYTHON_ENV: python}

    def through_launcher(full_command: list[str], new_executable: str) -> list[str]:
        if new_executable != python:  # a venv of kfp.local's own: leave it alone
            return replace(full_command, new_executable)
        return replace(full_command, launcher_command(python))

    try:
        with (
            mock.patch.dict(os.environ, env),
            mock.patch.object(handler, "replace_python_executable", through_launcher),
        ):
            yield True
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.returncode not in (0, -15):
            log.info("preload server ended with %s: %s", server.returncode, server_log.read_text()[-2000:])
        shutil.rmtree(folder, ignore_errors=True)
