"""`kfp_ct.preload`: steps forked from a warm server run as `python -m` would, or fall back to it.

Real processes throughout: a preload server (`python -m kfp_ct.preload.server`, here preloading
only `json` so that it is up at once), the launcher as kfp.local starts it, and one kfp.local
pipeline under `preloaded_steps` with the full preload (no `from __future__ import annotations`
here: kfp reads the component's return annotation as a type).
"""

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from kfp_ct import preload
from kfp_ct.processes import alive

STEP = textwrap.dedent(
    """
    import json, os, sys
    if sys.argv[1:] == ["crash"]:
        raise ValueError("bad value in column 'age'")
    if sys.argv[1:] == ["kill"]:
        os.kill(os.getpid(), 9)
    if sys.argv[1:] == ["draw"]:
        import numpy
        print(numpy.random.randint(2**62))
        sys.exit(0)
    print(json.dumps({"argv": sys.argv, "pid": os.getpid(), "ppid": os.getppid(), "cwd": os.getcwd(),
                      "env": os.environ.get("STEP_VALUE"), "stdin": sys.stdin.read() if sys.stdin else None,
                      "main": __name__}))
    print("to stderr", file=sys.stderr)
    sys.exit(int(os.environ.get("STEP_EXIT", "0")))
    """
)


@pytest.fixture(params=[("json",)])
def server(request):
    """A preload server (preloading `request.param`), and the launcher's environment."""
    sock = Path(f"/tmp/kfp-ct-test-{os.getpid()}-{time.monotonic_ns()}.sock")
    proc = subprocess.Popen([sys.executable, "-m", "kfp_ct.preload.server", str(sock), *request.param])
    deadline = time.monotonic() + 60
    while not sock.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "preload server did not come up"
        time.sleep(0.02)
    env = {
        **os.environ,
        preload.SOCKET_ENV: str(sock),
        preload.SERVER_PID_ENV: str(proc.pid),
        preload.PYTHON_ENV: sys.executable,
    }
    yield proc, env
    proc.terminate()
    proc.wait(10)
    assert not sock.exists()


def launch(tmp_path: Path, env: dict, *args: str, stdin: str = "", extra: dict | None = None):
    (tmp_path / "stepmod.py").write_text(STEP)
    return subprocess.run(
        [sys.executable, "-m", "kfp_ct.preload.launcher", "-m", "stepmod", *args],
        input=stdin, capture_output=True, text=True, cwd=tmp_path, env={**env, **(extra or {})}, timeout=60,
    )  # fmt: skip


def test_a_step_is_forked_from_the_server_with_the_launchers_streams_place_and_environment(server, tmp_path):
    proc, env = server
    done = launch(tmp_path, env, "a", "b", stdin="rows", extra={"STEP_VALUE": "42", "STEP_EXIT": "3"})
    assert done.returncode == 3
    seen = json.loads(done.stdout.splitlines()[0])
    assert seen["ppid"] == proc.pid  # forked by the server, not started by the launcher
    assert seen["argv"][1:] == ["a", "b"] and seen["main"] == "__main__"
    assert (seen["cwd"], seen["env"], seen["stdin"]) == (str(tmp_path), "42", "rows")
    assert done.stderr.strip() == "to stderr"


def test_a_failing_step_prints_its_traceback_and_exits_1(server, tmp_path):
    done = launch(tmp_path, server[1], "crash")
    assert done.returncode == 1
    assert "ValueError: bad value in column 'age'" in done.stderr and "Traceback" in done.stderr


def test_a_killed_step_fails_and_says_so(server, tmp_path):
    done = launch(tmp_path, server[1], "kill")
    assert done.returncode == 1
    assert "ended without an exit status" in done.stderr


def test_the_server_survives_its_steps(server, tmp_path):
    proc, env = server
    for code in ("0", "5", "0"):
        assert launch(tmp_path, env, extra={"STEP_EXIT": code}).returncode == int(code)
    assert proc.poll() is None


@pytest.mark.parametrize("server", [("numpy",)], indirect=True)
def test_each_step_draws_its_own_numpy_seed(server, tmp_path):
    draws = {launch(tmp_path, server[1], "draw").stdout.strip() for _ in range(3)}
    assert len(draws) == 3  # forks of one process would share numpy's global generator state


def test_a_launcher_with_a_closed_stdin_runs_the_real_interpreter(server, tmp_path):
    proc, env = server
    (tmp_path / "stepmod.py").write_text(STEP)
    launcher = f"{sys.executable} -m kfp_ct.preload.launcher -m stepmod"
    done = subprocess.run(["sh", "-c", f"exec {launcher} 0<&-"], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=60)  # fmt: skip
    seen = json.loads(done.stdout.splitlines()[0])
    assert done.returncode == 0 and seen["stdin"] is None
    assert seen["ppid"] != proc.pid


def test_without_a_server_the_launcher_runs_the_real_interpreter(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    env = {
        **os.environ,
        preload.SOCKET_ENV: str(tmp_path / "none.sock"),
        preload.SERVER_PID_ENV: str(dead.pid),
    }
    done = launch(tmp_path, env, "x", extra={"STEP_EXIT": "4"})
    assert done.returncode == 4
    seen = json.loads(done.stdout.splitlines()[0])
    assert seen["argv"][1:] == ["x"] and seen["cwd"] == str(tmp_path)


def test_preloading_is_off_when_asked_and_on_by_default_on_linux(monkeypatch):
    monkeypatch.delenv(preload.PRELOAD_ENV, raising=False)
    assert preload.enabled() is (sys.platform == "linux")
    monkeypatch.setenv(preload.PRELOAD_ENV, "off")
    assert preload.enabled() is False
    with preload.preloaded_steps() as used:
        assert used is False and preload.SOCKET_ENV not in os.environ


def test_a_kfp_local_pipeline_runs_its_steps_through_the_server(tmp_path, monkeypatch):
    from kfp import dsl, local

    monkeypatch.delenv(preload.PRELOAD_ENV, raising=False)
    if not preload.enabled():
        pytest.skip("preloading is on by default on Linux only")

    @dsl.component(base_image="python:3.11", install_kfp_package=False)
    def parent_pid() -> int:
        import os

        return os.getppid()

    @dsl.pipeline
    def one_step() -> int:
        return parent_pid().output

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path))
    with preload.preloaded_steps() as used:
        server_pid = int(os.environ[preload.SERVER_PID_ENV])
        task = one_step()
    assert used and task.output == server_pid
    assert preload.SOCKET_ENV not in os.environ


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_a_server_that_exited_unreaped_is_not_waited_for(tmp_path):
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])  # exits; not waited for until the end
    deadline = time.monotonic() + 30
    while alive(zombie.pid):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert Path(f"/proc/{zombie.pid}").exists()  # exited, not reaped: the pid is still taken
    missing = {preload.SOCKET_ENV: str(tmp_path / "none.sock"), preload.SERVER_PID_ENV: str(zombie.pid)}
    started = time.monotonic()
    done = launch(tmp_path, {**os.environ, **missing}, extra={"STEP_EXIT": "6"})
    zombie.wait()
    assert done.returncode == 6 and time.monotonic() - started < 30  # the launcher waits up to WAIT_S
