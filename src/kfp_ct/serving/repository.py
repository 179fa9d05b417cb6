"""KServe's model repository, backed by deployment specs on disk (`kfp_ct.serving.spec`).

`reconcile(name)` makes the server hold what the spec of `name` says: it loads versions it does
not hold yet (beside the ones serving, which keep answering), builds the new route table, swaps
it in one step, then drops the versions the spec no longer names. A version that fails to load
changes nothing. KServe's `POST /v2/repository/models/<name>/load` calls it, and so does a
watcher thread when a spec file changes, so every worker process of a `--workers N` server
converges on the same table. Without a directory (`single`), the repository holds one model
given on the command line, as the cluster ServingRuntime runs it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from kserve.errors import ModelNotFound
from kserve.model_repository import ModelRepository

from kfp_ct.serving.model import SklearnMlflowModel
from kfp_ct.serving.router import Deployment, RouteTable, policy_from_route
from kfp_ct.serving.spec import DeploymentSpec, read_spec, spec_names, spec_path

log = logging.getLogger(__name__)
WATCH_INTERVAL_S = 0.5


class LoadFailed(RuntimeError):
    """A version named by a spec could not be loaded; the server holds what it held before."""


class DeploymentRepository(ModelRepository):
    """Model name -> `Deployment`, reconciled from `<models_dir>/<name>/deployment.json`."""

    def __init__(self, models_dir: str | Path | None = None) -> None:
        super().__init__(str(models_dir) if models_dir else "")
        self.directory = Path(models_dir) if models_dir else None
        self._init_process_state()

        self._seen: dict[str, tuple[int, int]] = {}  # spec file stamps as last reconciled

    def _init_process_state(self) -> None:
        self._lock = threading.Lock()
        self._watching_pid: int | None = None

    def __getstate__(self) -> dict:
        """Picklable for KServe's worker processes: the lock and the watcher stay behind."""
        state = self.__dict__.copy()
        for key in ("_lock", "_watching_pid"):
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._init_process_state()

    def add_single(self, name: str, model_dir: str | Path, version: str | None) -> Deployment:
        """Hold one model version, loaded now, taking all of `name`'s traffic (the cluster mode)."""
        model = SklearnMlflowModel(name, model_dir, version)
        model.load()
        deployment = Deployment(name)
        route = {"policy": "single", "version": str(model.version)}
        deployment.swap(RouteTable({str(model.version): model}, policy_from_route(route)))
        self.update(deployment)
        return deployment

    # ------------------------------------------------------------ KServe's repository API
    def load_models(self) -> None:
        """Load every spec in the directory (a spec that fails is logged and skipped)."""
        for name in spec_names(self.directory) if self.directory else []:
            try:
                self.reconcile(name)
            except Exception as exc:  # one bad model must not keep the others from serving
                log.error("could not load %s at start: %s", name, exc)

    def load(self, name: str) -> bool:
        """`POST /v2/repository/models/<name>/load`: reconcile `name` with its spec."""
        return self.reconcile(name).ready

    def load_model(self, name: str) -> bool:
        """Same as `load` (KServe calls either)."""
        return self.load(name)

    def deployment(self, name: str) -> Deployment:
        """The deployment of `name`; ModelNotFound when the server holds none."""
        model = self.models.get(name)
        if not isinstance(model, Deployment):
            raise ModelNotFound(name)
        return model

    # ------------------------------------------------------------ reconcile
    def reconcile(self, name: str) -> Deployment:
        """Make the server hold what the spec of `name` says; atomic swap; LoadFailed on failure."""
        if self.directory is None:
            return self.deployment(name)
        with self._lock:
            path = spec_path(self.directory, name)
            self._seen[name] = _stamp(path)
            spec = read_spec(self.directory, name)
            if spec is None:
                if name in self.models:
                    self.unload(name)
                raise ModelNotFound(name)
            return self._apply(spec)

    def _apply(self, spec: DeploymentSpec) -> Deployment:
        existing = self.models.get(spec.name)
        deployment = existing if isinstance(existing, Deployment) else Deployment(spec.name)
        held = deployment.table.versions
        versions: dict[str, SklearnMlflowModel] = {}
        for version, model_dir in spec.versions.items():
            model = held.get(version)
            if model is None or model.model_dir != Path(model_dir):
                start = time.perf_counter()
                model = SklearnMlflowModel(spec.name, model_dir, version)
                try:
                    model.load()
                except Exception as exc:
                    raise LoadFailed(
                        f"{spec.name} v{version} could not be loaded from {model_dir}: "
                        f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
                    ) from exc
                log.info("loaded %s v%s in %.2f s", spec.name, version, time.perf_counter() - start)
            versions[version] = model
        before = deployment.swap(RouteTable(versions, policy_from_route(spec.route)))
        self.update(deployment)
        dropped = sorted(set(before.versions) - set(versions))
        log.info(
            "%s generation %d: serving v%s, loaded %s%s",
            spec.name,
            spec.generation,
            deployment.serving,
            sorted(versions),
            f", dropped {dropped}" if dropped else "",
        )
        return deployment

    # ------------------------------------------------------------ watcher
    def start_watching(self, interval_s: float = WATCH_INTERVAL_S) -> None:
        """Reconcile a name whenever its spec file changes (once per process, a daemon thread)."""
        if self.directory is None or self._watching_pid == os.getpid():
            return
        self._watching_pid = os.getpid()
        with self._lock:  # what is loaded now counts as seen
            for name in spec_names(self.directory):
                self._seen.setdefault(name, _stamp(spec_path(self.directory, name)))
        threading.Thread(
            target=self._watch, args=(interval_s,), name="kfp-ct-spec-watcher", daemon=True
        ).start()

    def _watch(self, interval_s: float) -> None:
        while True:
            time.sleep(interval_s)
            try:
                self.poll()
            except Exception:  # the watcher must outlive any one bad spec
                log.exception("spec watcher")

    def poll(self) -> list[str]:
        """Reconcile every name whose spec changed since it was last seen; return those names."""
        assert self.directory is not None
        changed = []
        names = set(spec_names(self.directory)) | {
            n for n in self.models if isinstance(self.models[n], Deployment)
        }
        for name in sorted(names):
            if _stamp(spec_path(self.directory, name)) == self._seen.get(name):
                continue
            changed.append(name)
            try:
                self.reconcile(name)
            except ModelNotFound:
                log.info("%s: spec removed, unloaded", name)
            except Exception as exc:
                log.error("%s: %s", name, exc)
        return changed


def _stamp(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except FileNotFoundError:
        return (0, 0)
    return (st.st_mtime_ns, st.st_size)
