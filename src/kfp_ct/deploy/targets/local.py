"""Deploy target `local`: a real KServe model server process on this machine.

The server runs detached (its own session) so it outlives the pipeline run; its pid, port and
model live in `$KFP_CT_HOME/serving/state.json`. The port is stable (`KFP_CT_PORT`, default
8080): a new version replaces the old process on the same port, and on any failure the old
version is started again, so the previous champion goes back to serving.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from kfp_ct import settings
from kfp_ct.deploy.base import DeployRequest, DeployResult
from kfp_ct.deploy.smoke import run_smoke_test
from kfp_ct.errors import DeployError, ServingError
from kfp_ct.serving.client import wait_ready

log = logging.getLogger(__name__)
PORT_ENV = "KFP_CT_PORT"
DEFAULT_PORT = 8080
RESTORE_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class ServerState:
    """A running local model server."""

    pid: int
    port: int
    model_name: str
    model_version: str
    model_dir: str
    log_path: str
    started_at: float

    @property
    def endpoint(self) -> str:
        """Base URL."""
        return f"http://127.0.0.1:{self.port}"


def state_path() -> Path:
    """Where the running server is recorded."""
    return settings.server_dir() / "state.json"


def read_state() -> ServerState | None:
    """The recorded server, if its process is still alive."""
    path = state_path()
    if not path.exists():
        return None
    try:
        state = ServerState(**json.loads(path.read_text()))
    except (ValueError, TypeError):
        return None
    return state if _alive(state.pid) else None


def pending_path() -> Path:
    """Where a server that is starting is recorded until it is confirmed (or stopped)."""
    return settings.server_dir() / "pending.json"


def _is_model_server(pid: int) -> bool:
    try:
        return b"kfp_ct.serving" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def reap_pending() -> int | None:
    """Stop a server left half-started by a killed deploy (its pid is in pending.json)."""
    path = pending_path()
    if not path.exists():
        return None
    try:
        pid = int(json.loads(path.read_text())["pid"])
    except (ValueError, KeyError, TypeError):
        path.unlink(missing_ok=True)
        return None
    live = read_state()
    if _alive(pid) and _is_model_server(pid) and (live is None or live.pid != pid):
        log.warning("stopping model server pid %d left behind by an interrupted deploy", pid)
        stop_server(pid)
    path.unlink(missing_ok=True)
    return pid


def _write_state(state: ServerState | None) -> None:
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    if state is None:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=2))
    tmp.replace(path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not reaped) is not alive
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def configured_port() -> int:
    """The stable local serving port."""
    raw = os.environ.get(PORT_ENV, str(DEFAULT_PORT))
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise DeployError(f"{PORT_ENV}={raw!r} is not a TCP port number")
    return int(raw)


def port_free(port: int) -> bool:
    """Whether nothing listens on `port` on this machine."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def start_server(name: str, version: str, model_dir: Path, port: int) -> tuple[subprocess.Popen, ServerState]:
    """Start a detached model server process for `model_dir` on `port`."""
    log_dir = settings.server_dir() / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}-v{version}-{int(time.time())}.log"
    cmd = [
        sys.executable, "-m", "kfp_ct.serving",
        f"--model_name={name}", f"--model_dir={model_dir}", f"--http_port={port}",
        "--enable_grpc=false", "--enable_latency_logging=false",
    ]  # fmt: skip
    with log_path.open("ab") as out:
        proc = subprocess.Popen(  # cwd: MLflow 3 would create ./mlflow.db in the caller's directory
            cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=settings.server_dir()
        )
    pending_path().write_text(json.dumps({"pid": proc.pid}))  # reaped if this deploy is killed
    log.info(
        "started model server pid %d for %s v%s on port %d (log %s)",
        proc.pid,
        name,
        version,
        port,
        log_path,
    )
    state = ServerState(proc.pid, port, name, str(version), str(model_dir), str(log_path), time.time())
    return proc, state


def stop_server(pid: int, timeout_s: float = 10.0) -> None:
    """Stop a server process (SIGTERM, then SIGKILL) and wait until it is gone."""
    for sig, wait in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            if not _alive(pid):
                return
            time.sleep(0.05)


def _tail(path: str, lines: int = 5) -> str:
    try:
        text = Path(path).read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


class LocalTarget:
    """Serve on this machine with a real KServe ModelServer process."""

    name = "local"

    def __init__(self, port: int | None = None) -> None:
        self.port = port or configured_port()

    def current_endpoint(self, model_name: str) -> str | None:
        """Endpoint of the live server when it serves `model_name`."""
        state = read_state()
        return state.endpoint if state and state.model_name == model_name else None

    def _bring_up(
        self, request_name: str, version: str, model_dir: Path, timeout_s: float, smoke
    ) -> ServerState:
        proc, state = start_server(request_name, version, model_dir, self.port)
        try:
            wait_ready(state.endpoint, request_name, timeout_s, process=proc)
            if smoke is not None:
                run_smoke_test(state.endpoint, request_name, smoke)
        except (ServingError, DeployError) as exc:
            stop_server(proc.pid)
            pending_path().unlink(missing_ok=True)
            detail = _tail(state.log_path)
            raise DeployError(f"{exc}" + (f" [server log: {detail}]" if detail else "")) from exc
        return state

    def deploy(self, request: DeployRequest) -> DeployResult:
        """Replace the live server with `request`'s version; restore the old one on failure."""
        if request.model_dir is None:
            raise DeployError("local deploy needs the model files on disk (model_dir)")
        reap_pending()
        old = read_state()
        if old is not None:
            log.info("stopping v%s of %s (pid %d)", old.model_version, old.model_name, old.pid)
            stop_server(old.pid)
        elif not port_free(self.port):
            raise DeployError(
                f"port {self.port} is in use by another program; stop it or set {PORT_ENV} to a free port"
            )
        try:
            state = self._bring_up(
                request.model_name, request.model_version, request.model_dir,
                request.readiness_timeout_s, request.smoke,
            )  # fmt: skip
        except DeployError as exc:
            # the old version loaded before: give it time even when the new one timed out
            restored = self._restore(old, max(request.readiness_timeout_s, RESTORE_TIMEOUT_S))
            raise DeployError(
                f"deploy of {request.model_name} v{request.model_version} failed: {exc}; {restored}"
            ) from exc
        _write_state(state)
        pending_path().unlink(missing_ok=True)
        return DeployResult(state.endpoint, {"pid": str(state.pid), "log": state.log_path})

    def _restore(self, old: ServerState | None, timeout_s: float) -> str:
        if old is None:
            _write_state(None)
            return "nothing was serving before, nothing is serving now"
        try:
            state = self._bring_up(old.model_name, old.model_version, Path(old.model_dir), timeout_s, None)
        except DeployError as exc:
            _write_state(None)
            return f"ALSO FAILED to restart the previous v{old.model_version}: {exc}"
        _write_state(state)
        pending_path().unlink(missing_ok=True)
        return f"rolled back: v{old.model_version} is serving again at {state.endpoint}"

    def stop(self, model_name: str | None = None) -> ServerState | None:
        """Stop the live server (this home runs one, whatever `model_name`); return what ran."""
        state = read_state()
        if state is not None:
            stop_server(state.pid)
        _write_state(None)
        return state
