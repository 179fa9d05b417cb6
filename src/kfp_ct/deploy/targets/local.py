"""Deploy target `local`: one long-lived KServe model server on this machine, hot-swapped.

The server (`python -m kfp_ct.serving --model_repository $KFP_CT_HOME/serving/repository`) runs
detached, in its own session, and outlives the pipeline run; its pid and ports live in
`$KFP_CT_HOME/serving/state.json`. A deploy never restarts it:

1. it adds the new version to the model's deployment spec, route unchanged, and asks the server
   to load it (`POST /v2/repository/models/<name>/load`); the serving version keeps answering;
2. it smoke-tests the new version on its own route (`/v2/models/<name>/versions/<v>/infer`);
3. it moves the route to the new version in one step, keeping the version it replaced loaded, so
   that a rollback (deploying that version again) is a swap back.

Any failure before step 3 puts the previous spec back: the previous version never stopped
answering. A progressive rollout (`deploy.base.ProgressiveTarget`) does steps 1 and 2 the same
way, then routes by a split (`start_canary`: the champion and the canary by weight) or a shadow
(`start_shadow`: the champion answers, the new version gets copies); `conclude` routes everything
to the winner (a promoted canary keeps the old champion loaded, as a direct deploy does) and
unloads a rolled-back candidate. A server that died is started again from the specs (the
champion) by the next deploy or `kfp-ct serve`. Port: `KFP_CT_PORT` when set (taken: fail, see
`preflight`); else the port recorded for this home, else 8080, else a free port, said in the
log and recorded.
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
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from kfp_ct import settings
from kfp_ct.deploy.base import DeployRequest, DeployResult, SmokeTest
from kfp_ct.deploy.smoke import run_smoke_test
from kfp_ct.errors import DeployError, ParameterError, ServingError
from kfp_ct.processes import alive
from kfp_ct.serving import client
from kfp_ct.serving.spec import DeploymentSpec, read_spec, remove_spec, spec_names, write_spec

log = logging.getLogger(__name__)
PORT_ENV = "KFP_CT_PORT"
DEFAULT_PORT = 8080
START_TIMEOUT_S = 180.0  # a cold server imports KServe, scikit-learn and MLflow
RESTORE_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class ServerState:
    """The running local model server of this home."""

    pid: int
    port: int
    grpc_port: int
    log_path: str
    started_at: float
    repository: str
    stopped: bool = False  # by `stop`; the ports stay recorded for the next start

    @property
    def endpoint(self) -> str:
        """Base URL (REST)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def grpc_endpoint(self) -> str:
        """host:port of the V2 gRPC service."""
        return f"127.0.0.1:{self.grpc_port}"

    def serving_version(self, model_name: str) -> str | None:
        """The version taking `model_name`'s traffic, as the repository says."""
        spec = read_spec(Path(self.repository), model_name)
        return spec.serving if spec else None


def state_path() -> Path:
    """Where the running server is recorded."""
    return settings.server_dir() / "state.json"


def repository_dir() -> Path:
    """The deployment specs the server serves from."""
    return settings.server_dir() / "repository"


def _recorded() -> ServerState | None:
    try:
        return ServerState(**json.loads(state_path().read_text()))
    except (OSError, ValueError, TypeError):
        return None


def read_state() -> ServerState | None:
    """The recorded server, if its process is still alive."""
    state = _recorded()
    if state is None or state.stopped:
        return None
    return state if alive(state.pid) and _is_model_server(state.pid, state.repository) else None


@contextlib.contextmanager
def _server_lock() -> Iterator[None]:
    """An exclusive lock on this home's server (starting, stopping, moving it)."""
    import fcntl

    path = settings.server_dir() / ".server.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _retire_legacy() -> None:
    """Stop a server of the one-process-per-version layout (its state names a `model_dir`)."""
    try:
        raw = json.loads(state_path().read_text())
    except (OSError, ValueError):
        return
    if not isinstance(raw, dict) or "model_dir" not in raw or not isinstance(raw.get("pid"), int):
        return
    pid = raw["pid"]
    try:
        legacy = alive(pid) and b"kfp_ct.serving" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        legacy = False
    if legacy:
        log.warning("stopping model server pid %d of an earlier kfp-ct (one process per version)", pid)
        stop_server(pid)
    state_path().unlink(missing_ok=True)


def _write_state(state: ServerState | None) -> None:
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    if state is None:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=2))
    tmp.replace(path)


def _is_model_server(pid: int, repository: str) -> bool:
    """Whether `pid` is this home's server (a recycled pid is not)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc to ask: trust the pid
    return b"kfp_ct.serving" in cmdline and repository.encode() in cmdline


def _gone(pid: int, wait_s: float) -> bool:
    """Whether process `pid` is gone, or goes within `wait_s` (a killed process takes a moment)."""
    deadline = time.monotonic() + wait_s
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def explicit_port() -> int | None:
    """The port `KFP_CT_PORT` asks for, if set."""
    raw = os.environ.get(PORT_ENV, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ParameterError(f"{PORT_ENV}={raw!r} is not a TCP port number")
    return int(raw)


def configured_port() -> int:
    """The port asked for: `KFP_CT_PORT`, else 8080."""
    return explicit_port() or DEFAULT_PORT


def port_free(port: int) -> bool:
    """Whether nothing listens on `port` on this machine."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def _wait_port_released(port: int, timeout_s: float = 15.0) -> None:
    """Give the kernel time to close a dead server's listening socket (slow on a loaded machine)."""
    deadline = time.monotonic() + timeout_s
    while not port_free(port) and time.monotonic() < deadline:
        time.sleep(0.1)


def free_port() -> int:
    """A port nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("0.0.0.0", 0))
        return sock.getsockname()[1]


def preflight() -> None:
    """Fail now, before any training, when `KFP_CT_PORT` names a port another program holds."""
    port = explicit_port()
    if port is None:
        return
    live = read_state()
    if live is not None and live.port == port:
        return
    if not port_free(port):
        raise ParameterError(
            f"port {port} ({PORT_ENV}) is in use by another program; stop it, or set {PORT_ENV} "
            "to a free port, or unset it to let kfp-ct pick one"
        )


def choose_ports(recorded: ServerState | None) -> tuple[int, int]:
    """(REST, gRPC) ports for a new server of this home; see the module docstring."""
    port = explicit_port()
    if port is not None:
        if not port_free(port):
            raise DeployError(
                f"port {port} ({PORT_ENV}) is in use by another program; stop it or set another"
            )
    else:
        candidates = [recorded.port] if recorded else []
        port = next((p for p in [*candidates, DEFAULT_PORT] if port_free(p)), None) or free_port()
        if port != DEFAULT_PORT and (recorded is None or port != recorded.port):
            log.warning(
                "port %d is in use by another program; serving on port %d instead (recorded in %s; "
                "set %s to choose)",
                DEFAULT_PORT,
                port,
                state_path(),
                PORT_ENV,
            )
    grpc_candidates = [recorded.grpc_port] if recorded else []
    grpc = next(
        (p for p in [*grpc_candidates, port + 1] if p != port and 0 < p < 65536 and port_free(p)), None
    )
    return port, grpc or free_port()


def start_server(port: int, grpc_port: int) -> tuple[subprocess.Popen, ServerState]:
    """Start this home's detached model server over its repository; record it at once."""
    log_dir = settings.server_dir() / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    repository_dir().mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"server-{time.strftime('%Y%m%d-%H%M%S')}.log"
    cmd = [
        sys.executable, "-m", "kfp_ct.serving", f"--model_repository={repository_dir()}",
        f"--http_port={port}", f"--grpc_port={grpc_port}", "--enable_grpc=true",
    ]  # fmt: skip
    with log_path.open("ab") as out:
        proc = subprocess.Popen(  # cwd: MLflow 3 would create ./mlflow.db in the caller's directory
            cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=settings.server_dir()
        )
    state = ServerState(proc.pid, port, grpc_port, str(log_path), time.time(), str(repository_dir()))
    _write_state(state)  # a deploy killed from here on leaves a recorded server, adopted next time
    log.info("started model server pid %d on port %d (gRPC %d, log %s)", proc.pid, port, grpc_port, log_path)
    return proc, state


def stop_server(pid: int, timeout_s: float = 10.0) -> None:
    """Stop a server process (SIGTERM, then SIGKILL) and wait until it is gone."""
    for sig, wait in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            if not alive(pid):
                return
            time.sleep(0.05)


def _ready(state: ServerState, timeout_s: float) -> bool:
    """Whether a recorded live server answers ready within `timeout_s` (it may still be starting).

    A server left by a run killed while it started is adopted once it is ready; one that dies or
    hangs meanwhile is not.
    """
    deadline = time.monotonic() + timeout_s
    while alive(state.pid):
        try:
            client.wait_ready(state.endpoint, None, min(5.0, max(deadline - time.monotonic(), 0.1)))
            return True
        except ServingError:
            if time.monotonic() >= deadline:
                return False
    return False


def _champion_for(staged: DeploymentSpec, champion: str | None, version: str, what: str) -> str:
    """The version a canary or shadow runs beside; DeployError when there is none."""
    if champion is None or champion == version:
        raise DeployError(
            f"a {what} of {staged.name} v{version} needs another version serving beside it, "
            f"and {'nothing' if champion is None else f'v{champion} itself'} serves now"
        )
    return champion


def _tail(path: str, lines: int = 5) -> str:
    try:
        text = Path(path).read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


class LocalTarget:
    """Serve on this machine: one long-lived KServe model server, new versions swapped in."""

    name = "local"

    def __init__(self, port: int | None = None) -> None:
        self.port = port

    # ------------------------------------------------------------ the server
    def ensure_server(self, timeout_s: float = START_TIMEOUT_S) -> ServerState:
        """This home's server, started (on what the repository says) when none is alive."""
        with _server_lock():  # two deploys in one home start one server
            return self._ensure_server(timeout_s)

    def _ensure_server(self, timeout_s: float) -> ServerState:
        _retire_legacy()
        live = read_state()
        wanted = self.port or explicit_port()
        if live is not None and wanted is not None and live.port != wanted:
            log.info("moving the model server from port %d to %d", live.port, wanted)
            stop_server(live.pid)
            live = None
        if live is not None:
            if _ready(live, timeout_s):
                return live
            log.warning("model server pid %d never became ready; starting a new one", live.pid)
            stop_server(live.pid)
        recorded = _recorded()
        if recorded is not None and not recorded.stopped:
            _wait_port_released(recorded.port)  # it died: its socket may take a moment to close
            log.warning(
                "model server pid %d is gone; starting it again on %s",
                recorded.pid,
                ", ".join(f"{n} v{self.serving_version(n)}" for n in spec_names(repository_dir()))
                or "no model",
            )
        if self.port is not None:
            if not port_free(self.port):
                raise DeployError(f"port {self.port} is in use by another program")
            ports = (self.port, choose_ports(recorded)[1])
        else:
            ports = choose_ports(recorded)
        proc, state = start_server(*ports)
        try:
            client.wait_ready(state.endpoint, None, timeout_s, process=proc)
        except ServingError as exc:
            stop_server(proc.pid)
            _write_state(replace(state, stopped=True))  # the ports stay recorded
            detail = _tail(state.log_path)
            raise DeployError(f"{exc}" + (f" [server log: {detail}]" if detail else "")) from exc
        return state

    def current_endpoint(self, model_name: str) -> str | None:
        """Endpoint of the live server when it routes `model_name`'s traffic to a version."""
        state = read_state()
        return state.endpoint if state and state.serving_version(model_name) else None

    def serving_version(self, model_name: str) -> str | None:
        """The version taking `model_name`'s traffic, per the repository."""
        spec = read_spec(repository_dir(), model_name)
        return spec.serving if spec else None

    def _apply(self, state: ServerState, spec: DeploymentSpec | None, name: str, timeout_s: float) -> dict:
        """Write (or remove) the spec of `name` and have the server reconcile it."""
        if spec is None:
            remove_spec(repository_dir(), name)
        else:
            write_spec(repository_dir(), spec)
        try:
            return client.load_model(state.endpoint, name, timeout_s)
        except ServingError as exc:
            if spec is None and "HTTP 404" in str(exc):
                return {"name": name, "versions": [], "serving": None}
            if "HTTP " not in str(exc) and _gone(state.pid, 5.0):  # no answer: did it die?
                raise ServingError(f"the model server exited while loading {name} ({exc})") from exc
            raise

    # ------------------------------------------------------------ deploy
    def deploy(self, request: DeployRequest) -> DeployResult:
        """Load `request`'s version beside the serving one, smoke-test it, swap the route."""

        def swap(staged: DeploymentSpec, previous: str | None, version: str) -> DeploymentSpec:
            # the version it replaces stays loaded (a rollback is a swap back); a re-deploy of the
            # serving version keeps what was loaded
            keep = set(staged.versions) if previous == version else {previous} if previous else set()
            return staged.routed_to(version, keep)

        return self._roll_out(request, swap, "swapped")

    def start_canary(self, request: DeployRequest, percent: int) -> DeployResult:
        """Load and smoke-test `request`'s version, then give it `percent`% of the requests."""

        def split(staged: DeploymentSpec, champion: str | None, version: str) -> DeploymentSpec:
            champion = _champion_for(staged, champion, version, "canary")
            both = staged.routed_to(champion, {version})
            return both.split({champion: 100 - int(percent), version: int(percent)})

        return self._roll_out(request, split, f"canary {percent}%")

    def start_shadow(self, request: DeployRequest) -> DeployResult:
        """Load and smoke-test `request`'s version, then copy every request to it."""

        def shadow(staged: DeploymentSpec, champion: str | None, version: str) -> DeploymentSpec:
            champion = _champion_for(staged, champion, version, "shadow")
            return staged.routed_to(champion, {version}).shadowed(champion, version)

        return self._roll_out(request, shadow, "shadow")

    def captured_as(self, model_name: str) -> str:
        """The local server serves and captures under the registered name itself."""
        return model_name

    def conclude(self, model_name: str, version: str, promote: bool) -> DeployResult:
        """All traffic to `version` (promote) or to the champion beside it; unload the loser."""
        version = str(version)
        state = self.ensure_server()
        spec = read_spec(repository_dir(), model_name)
        if spec is None or version not in spec.versions:
            raise DeployError(f"{model_name}: v{version} is not loaded; nothing to conclude")
        others = [v for v in [spec.serving, *spec.candidates] if v and v != version]
        if promote:
            live = spec.routed_to(version, set(others[:1]))  # the old champion stays, as in deploy
        elif others:
            live = spec.routed_to(others[0])
        else:
            raise DeployError(f"{model_name}: v{version} is all that is loaded; no champion to fall back to")
        answer = self._apply(state, live, model_name, RESTORE_TIMEOUT_S)
        winner = live.serving
        log.info("%s: v%s %s; v%s serves all traffic", model_name, version,
                 "promoted" if promote else "rolled back", winner)  # fmt: skip
        return DeployResult(
            state.endpoint,
            {
                "serving": winner or "",
                "loaded": ",".join(answer.get("versions", [])),
                "previous": spec.serving or "",
            },
        )

    def _roll_out(
        self,
        request: DeployRequest,
        route: Callable[[DeploymentSpec, str | None, str], DeploymentSpec],
        what: str,
    ) -> DeployResult:
        """Load `request`'s version with the route unchanged, smoke-test it, then apply `route`."""
        if request.model_dir is None:
            raise DeployError("local deploy needs the model files on disk (model_dir)")
        name, version = request.model_name, str(request.model_version)
        start = time.perf_counter()
        state = self.ensure_server(max(request.readiness_timeout_s, START_TIMEOUT_S))
        before = read_spec(repository_dir(), name)
        base = before or DeploymentSpec(name)
        previous = base.serving
        try:
            staged = base.with_version(version, request.model_dir)
            self._apply(state, staged, name, request.readiness_timeout_s)
            self._smoke(state, name, version, request.smoke)
            answer = self._apply(state, route(staged, previous, version), name, request.readiness_timeout_s)
        except (ServingError, DeployError) as exc:
            restored = self._restore(state, name, before, exc)
            detail = _tail(state.log_path) if "exited" in str(exc) else ""
            raise DeployError(
                f"deploy of {name} v{version} failed: {exc}; {restored}"
                + (f" [server log: {detail}]" if detail else "")
            ) from exc
        seconds = time.perf_counter() - start
        log.info(
            "%s v%s serving at %s (%s from %s in %.2f s)",
            name,
            version,
            state.endpoint,
            what,
            f"v{previous}" if previous else "nothing",
            seconds,
        )
        return DeployResult(
            state.endpoint,
            {
                "pid": str(state.pid),
                "log": state.log_path,
                "grpc": state.grpc_endpoint,
                "previous": previous or "",
                "loaded": ",".join(answer.get("versions", [])),
                "seconds": f"{seconds:.3f}",
            },
        )

    def _smoke(self, state: ServerState, name: str, version: str, smoke: SmokeTest | None) -> None:
        if smoke is not None:
            run_smoke_test(state.endpoint, name, smoke, version=version)

    def _restore(self, state: ServerState, name: str, before: DeploymentSpec | None, cause: Exception) -> str:
        """Put the spec as it was before this deploy; say what serves now."""
        try:
            if not alive(state.pid) or "exited" in str(cause):  # restarted on its recorded ports
                if before is None:
                    remove_spec(repository_dir(), name)
                else:
                    write_spec(repository_dir(), before)
                state = self.ensure_server()  # it loads the specs before it answers
                what = f"v{before.serving}" if before and before.serving else "nothing"
                return f"the server was restarted; rolled back: {what} is serving again at {state.endpoint}"
            self._apply(state, before, name, RESTORE_TIMEOUT_S)
        except (ServingError, DeployError) as exc:
            return f"ALSO FAILED to put the previous state back: {exc}"
        if before is None or before.serving is None:
            return "nothing was serving before, nothing is serving now"
        return f"rolled back: v{before.serving} is serving again at {state.endpoint} (it never stopped)"

    # ------------------------------------------------------------ stop
    def stop(self, model_name: str | None = None) -> ServerState | None:
        """Stop serving `model_name` (the server stops when nothing is left), or the whole server."""
        if not settings.server_dir().exists():  # nothing ever served in this home
            return None
        with _server_lock():
            return self._stop(model_name)

    def _stop(self, model_name: str | None) -> ServerState | None:
        state = read_state()
        if model_name is not None and state is not None:
            others = [n for n in spec_names(repository_dir()) if n != model_name]
            if others:
                with contextlib.suppress(ServingError):
                    self._apply(state, None, model_name, RESTORE_TIMEOUT_S)
                return state
        if model_name is not None:
            remove_spec(repository_dir(), model_name)
        if state is not None:
            stop_server(state.pid)
        recorded = _recorded()
        if recorded is not None:
            _write_state(replace(recorded, stopped=True))
        return state
