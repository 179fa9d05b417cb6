"""The MLflow model registry through aliases: `challenger`, `champion`, `previous-champion`.

`champion` moves only after the new version serves (see `kfp_ct.steps.deploy`), so the registry
never names a champion that is not the one serving. Moving it is serialised across processes and
machines by `promotion_lock`: a mutex made from the registry's unique registered-model names.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kfp_ct import lineage
from kfp_ct.errors import ChampionMoved, PromotionLocked
from kfp_ct.tracking import runs
from kfp_ct.tracking.retry import retry_call

log = logging.getLogger(__name__)
# Written by MLflow into a registered version's download only; not part of the model.
NOT_MODEL_FILES = ("registered_model_meta",)


MODEL_URI_TAG = "kfp_ct.model_uri"  # the logged model a version was registered from
LOCK_SUFFIX = ".promotion-lock"
LOCK_OWNER = "kfp_ct.lock.owner"
LOCK_EXPIRES = "kfp_ct.lock.expires_at"


@dataclass(frozen=True)
class VersionRef:
    """A registered model version."""

    name: str
    version: str
    source: str
    run_id: str | None
    tags: dict[str, str]


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tree_sha256(root: str | Path, exclude: tuple[str, ...] = ()) -> str:
    """SHA-256 over every file under `root` (relative path + content), in sorted order.

    Files whose name is in `exclude` are skipped.
    """
    root = Path(root)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name not in exclude):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(file_sha256(path).encode())
    return digest.hexdigest()


def model_hash(model_dir: Path) -> str:
    """Content hash of a model directory, recorded at registration and checked before deploy."""
    return tree_sha256(model_dir, exclude=NOT_MODEL_FILES)


def mlflow_client():
    """An MLflow client on the configured store."""
    import mlflow

    runs.connect()
    return mlflow.MlflowClient()


def _missing(exc: Exception) -> bool:
    return getattr(exc, "error_code", "") in (
        "RESOURCE_DOES_NOT_EXIST",
        "NOT_FOUND",
        "INVALID_PARAMETER_VALUE",
    )


def aliases(name: str) -> dict[str, str]:
    """Alias -> version for a registered model (empty when it does not exist)."""
    from mlflow.exceptions import MlflowException

    client = mlflow_client()
    try:
        model = retry_call(lambda: client.get_registered_model(name), what="MLflow registry")
    except MlflowException as exc:
        if _missing(exc):
            return {}
        raise
    return {alias: str(version) for alias, version in model.aliases.items()}


def get_version(name: str, version: str) -> VersionRef:
    """One registered version."""
    mv = retry_call(lambda: mlflow_client().get_model_version(name, version), what="MLflow registry")
    return VersionRef(mv.name, str(mv.version), mv.source, mv.run_id, dict(mv.tags))


def by_alias(name: str, alias: str) -> VersionRef | None:
    """The version an alias points to, or None."""
    version = aliases(name).get(alias)
    return None if version is None else get_version(name, version)


def download(name: str, version: str, dst: Path) -> Path:
    """Copy a version's model files to `dst` (reused when already there) and return the dir."""
    import mlflow.artifacts

    target = dst / name / str(version)
    if (target / "MLmodel").exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    path = retry_call(
        lambda: mlflow.artifacts.download_artifacts(f"models:/{name}/{version}", dst_path=str(target)),
        what="MLflow artifact download",
    )
    return Path(path)


def _existing_version(client, name: str, run_id: str, model_uri: str):
    """A version of `name` already registered from this run's model (a retried or re-run step)."""
    found = retry_call(
        lambda: client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'"),
        what="MLflow registry",
    )
    return next((mv for mv in found if mv.tags.get(MODEL_URI_TAG) == model_uri), None)


def register(name: str, model_uri: str, run_id: str, tags: dict[str, str], model_dir: Path) -> VersionRef:
    """Register `model_uri` as a new version with lineage tags and alias `challenger`.

    The content hash of `model_dir` is recorded so that deploy can detect a corrupted artifact.
    Idempotent: a version already registered from the same model is reused, never duplicated. If
    the alias cannot be set, the new version is deleted again (no half-registered version).
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow_client()

    def create_model() -> None:
        try:
            client.create_registered_model(name, tags={"kfp_ct.managed": "true"})
        except MlflowException as exc:
            if getattr(exc, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
                raise

    retry_call(create_model, what="MLflow create_registered_model")
    all_tags = {**tags, lineage.MODEL_SHA256: model_hash(model_dir), MODEL_URI_TAG: model_uri}

    def create_version():
        existing = _existing_version(client, name, run_id, model_uri)
        if existing is not None:
            log.info("%s v%s already registered from %s; reusing it", name, existing.version, model_uri)
            return existing
        return mlflow.register_model(model_uri, name, tags=all_tags, await_registration_for=60)

    mv = retry_call(create_version, what="MLflow register_model")
    try:
        retry_call(
            lambda: client.set_registered_model_alias(name, lineage.CHALLENGER, mv.version),
            what="MLflow set alias",
        )
    except Exception:
        with contextlib.suppress(Exception):  # best effort: MLflow may still be down
            retry_call(lambda: client.delete_model_version(name, mv.version), what="MLflow delete version")
            log.warning("%s v%s deleted again: its alias could not be set", name, mv.version)
        raise
    log.info("registered %s version %s (alias %s)", name, mv.version, lineage.CHALLENGER)
    return VersionRef(name, str(mv.version), mv.source, run_id, {**all_tags, **dict(mv.tags)})


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _stale(tags: dict[str, str], now: float) -> bool:
    """A lock past its expiry, or held by a process of this host that no longer exists."""
    try:
        if float(tags.get(LOCK_EXPIRES, "0")) < now:
            return True
    except ValueError:
        return True
    host, _, rest = tags.get(LOCK_OWNER, "").partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@contextlib.contextmanager
def promotion_lock(
    name: str, ttl_s: float = 900.0, wait_s: float = 900.0, poll_s: float = 0.5
) -> Iterator[str]:
    """Hold the cross-process promotion lock of `name` (registered model `<name>.promotion-lock`).

    MLflow refuses a second registered model of the same name (RESOURCE_ALREADY_EXISTS) in every
    store, so creating it is an atomic test-and-set. The lock expires after `ttl_s`, and a lock
    whose owner process on this host is gone is broken at once (a SIGKILLed run).
    """
    from mlflow.exceptions import MlflowException

    client = mlflow_client()
    lock, owner = f"{name}{LOCK_SUFFIX}", _owner()
    deadline = time.monotonic() + wait_s
    while True:
        tags = {LOCK_OWNER: owner, LOCK_EXPIRES: f"{time.time() + ttl_s:.3f}", "kfp_ct.lock": "true"}
        try:
            retry_call(lambda t=tags: client.create_registered_model(lock, tags=t), what="MLflow lock")
            break
        except MlflowException as exc:
            if getattr(exc, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
                raise
        try:
            held = dict(retry_call(lambda: client.get_registered_model(lock), what="MLflow lock").tags)
        except MlflowException as exc:
            if _missing(exc):
                continue  # released between our two calls
            raise
        if held.get(LOCK_OWNER) == owner:  # our own create succeeded before a retried one
            break
        if _stale(held, time.time()):
            log.warning("breaking stale promotion lock of %s held by %s", name, held.get(LOCK_OWNER))
            with contextlib.suppress(MlflowException):
                client.delete_registered_model(lock)
            continue
        if time.monotonic() > deadline:
            raise PromotionLocked(
                f"{name}: another run ({held.get(LOCK_OWNER)}) holds the promotion lock; "
                f"gave up after {wait_s:.0f} s"
            )
        time.sleep(poll_s)
    log.info("%s: promotion lock taken by %s", name, owner)
    try:
        yield owner
    finally:
        with contextlib.suppress(Exception):
            held = dict(client.get_registered_model(lock).tags)
            if held.get(LOCK_OWNER) == owner:
                retry_call(lambda: client.delete_registered_model(lock), what="MLflow unlock")


def promote(name: str, version: str, expected_champion: str | None, tags: dict[str, str]) -> str | None:
    """Move `champion` to `version`, keep the old one as `previous-champion`; return the old one.

    Raises ChampionMoved when the champion is no longer `expected_champion` (another run won).
    Call it under `promotion_lock`. If MLflow fails half-way, the aliases are put back as found.
    """
    client = mlflow_client()
    before = aliases(name)
    current = before.get(lineage.CHAMPION)
    if current != expected_champion:
        raise ChampionMoved(
            f"{name}: champion moved to v{current} while this run compared against "
            f"v{expected_champion}; re-run to compare against the new champion"
        )

    def call(fn, *args) -> None:
        retry_call(lambda: fn(*args), what="MLflow registry")

    try:
        call(client.set_registered_model_alias, name, lineage.CHAMPION, str(version))
        if current is not None and current != str(version):
            call(client.set_registered_model_alias, name, lineage.PREVIOUS_CHAMPION, current)
        if before.get(lineage.CHALLENGER) == str(version):
            call(client.delete_registered_model_alias, name, lineage.CHALLENGER)
    except Exception:
        _restore_aliases(client, name, before)
        raise
    for key, value in tags.items():  # informational; the move above is what counts
        with contextlib.suppress(Exception):
            call(client.set_model_version_tag, name, str(version), key, value)
    log.info("%s: champion v%s -> v%s", name, current, version)
    return current


def _restore_aliases(client, name: str, before: dict[str, str]) -> None:
    """Best effort: put the champion aliases back as they were."""
    for alias in (lineage.CHAMPION, lineage.PREVIOUS_CHAMPION, lineage.CHALLENGER):
        with contextlib.suppress(Exception):
            if alias in before:
                client.set_registered_model_alias(name, alias, before[alias])
            else:
                client.delete_registered_model_alias(name, alias)


def set_alias(name: str, alias: str, version: str | None) -> None:
    """Point `alias` at `version` (None: remove the alias; a missing one is no error)."""
    from mlflow.exceptions import MlflowException

    client = mlflow_client()
    if version is not None:
        retry_call(lambda: client.set_registered_model_alias(name, alias, str(version)), what="MLflow alias")
        return
    with contextlib.suppress(MlflowException):
        client.delete_registered_model_alias(name, alias)


def set_version_tags(name: str, version: str, tags: dict[str, str]) -> None:
    """Add tags to a version."""
    client = mlflow_client()
    for key, value in tags.items():
        client.set_model_version_tag(name, str(version), key, value)


def describe_version(name: str, version: str, description: str) -> None:
    """Set a version's description (the MLflow UI shows it on the version's page)."""
    client = mlflow_client()
    retry_call(
        lambda: client.update_model_version(name, str(version), description=description[:50000]),
        what="MLflow update_model_version",
    )
