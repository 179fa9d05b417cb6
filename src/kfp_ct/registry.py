"""The MLflow model registry through aliases: `challenger`, `champion`, `previous-champion`.

`champion` moves only after the new version serves (see `kfp_ct.deploy.step`), so the registry
never names a champion that is not the one serving.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from kfp_ct import lineage, tracking
from kfp_ct.data.hashing import tree_sha256
from kfp_ct.errors import KfpCtError
from kfp_ct.retry import retry_call

log = logging.getLogger(__name__)
# Written by MLflow into a registered version's download only; not part of the model.
NOT_MODEL_FILES = ("registered_model_meta",)


class ChampionMoved(KfpCtError):
    """Another run moved `champion` after this run compared against it."""


@dataclass(frozen=True)
class VersionRef:
    """A registered model version."""

    name: str
    version: str
    source: str
    run_id: str | None
    tags: dict[str, str]


def model_hash(model_dir: Path) -> str:
    """Content hash of a model directory, recorded at registration and checked before deploy."""
    return tree_sha256(model_dir, exclude=NOT_MODEL_FILES)


def _client():
    import mlflow

    tracking.connect()
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

    client = _client()
    try:
        model = retry_call(lambda: client.get_registered_model(name), what="MLflow registry")
    except MlflowException as exc:
        if _missing(exc):
            return {}
        raise
    return {alias: str(version) for alias, version in model.aliases.items()}


def get_version(name: str, version: str) -> VersionRef:
    """One registered version."""
    mv = retry_call(lambda: _client().get_model_version(name, version), what="MLflow registry")
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


def register(name: str, model_uri: str, run_id: str, tags: dict[str, str], model_dir: Path) -> VersionRef:
    """Register `model_uri` as a new version with lineage tags and alias `challenger`.

    The content hash of `model_dir` is recorded so that deploy can detect a corrupted artifact.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    client = _client()
    try:
        client.create_registered_model(name, tags={"kfp_ct.managed": "true"})
    except MlflowException as exc:
        if getattr(exc, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
            raise
    all_tags = {**tags, lineage.MODEL_SHA256: model_hash(model_dir)}
    mv = retry_call(
        lambda: mlflow.register_model(model_uri, name, tags=all_tags, await_registration_for=60),
        what="MLflow register_model",
    )
    client.set_registered_model_alias(name, lineage.CHALLENGER, mv.version)
    log.info("registered %s version %s (alias %s)", name, mv.version, lineage.CHALLENGER)
    return VersionRef(name, str(mv.version), mv.source, run_id, all_tags)


def promote(name: str, version: str, expected_champion: str | None, tags: dict[str, str]) -> str | None:
    """Move `champion` to `version`, keep the old one as `previous-champion`; return the old one.

    Raises ChampionMoved when the champion is no longer `expected_champion` (another run won).
    """
    client = _client()
    current = aliases(name).get(lineage.CHAMPION)
    if current != expected_champion:
        raise ChampionMoved(
            f"{name}: champion moved to v{current} while this run compared against "
            f"v{expected_champion}; re-run to compare against the new champion"
        )
    if current is not None and current != str(version):
        client.set_registered_model_alias(name, lineage.PREVIOUS_CHAMPION, current)
    client.set_registered_model_alias(name, lineage.CHAMPION, str(version))
    if aliases(name).get(lineage.CHALLENGER) == str(version):
        client.delete_registered_model_alias(name, lineage.CHALLENGER)
    for key, value in tags.items():
        client.set_model_version_tag(name, str(version), key, value)
    log.info("%s: champion v%s -> v%s", name, current, version)
    return current


def set_version_tags(name: str, version: str, tags: dict[str, str]) -> None:
    """Add tags to a version."""
    client = _client()
    for key, value in tags.items():
        client.set_model_version_tag(name, str(version), key, value)
