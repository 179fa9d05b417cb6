"""The deploy step: verify the registered version, make a target serve it, then move aliases."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from kfp_ct import lineage, settings
from kfp_ct.deploy.base import DeployRequest, DeployTarget, SmokeTest
from kfp_ct.errors import DeployError
from kfp_ct.tracking import registry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeployOutcome:
    """What the deploy step did."""

    target: str
    endpoint: str
    champion_version: str
    previous_champion: str | None


def smoke_from_frame(model, frame: pd.DataFrame, features: list[str], rows: int = 20) -> SmokeTest:
    """Smoke rows from held-out data with the offline model's predictions as the expectation."""
    sample = frame[features].head(rows).reset_index(drop=True)
    expected = [v.item() if hasattr(v, "item") else v for v in model.predict(sample)]
    return SmokeTest(sample, expected)


def check_trusted(model_dir) -> None:
    """Fail unless the model is skops with trusted types inside `SKOPS_TRUSTED_TYPES`.

    MLflow loads a skops model with the allowlist written in its own MLmodel file, so a widened
    list there (or a pickle) would let the file run code: kfp-ct never loads one.
    """
    import yaml

    from kfp_ct.core.estimators import SKOPS_TRUSTED_TYPES

    try:
        flavor = (yaml.safe_load((Path(model_dir) / "MLmodel").read_text()) or {})["flavors"]["sklearn"]
    except (OSError, KeyError, TypeError, yaml.YAMLError) as exc:
        raise DeployError(f"{model_dir}: no readable scikit-learn MLmodel ({exc})") from None
    if flavor.get("serialization_format") != "skops":
        raise DeployError(
            f"{model_dir}: serialized as {flavor.get('serialization_format')}, only skops is loaded"
        )
    extra = sorted(set(flavor.get("skops_trusted_types") or []) - set(SKOPS_TRUSTED_TYPES))
    if extra:
        raise DeployError(
            f"{model_dir}: trusts types outside kfp_ct.core.estimators.SKOPS_TRUSTED_TYPES: {extra}"
        )


def verify_artifact(version: registry.VersionRef, model_dir) -> None:
    """Fail when the files differ from the content hash recorded at registration or are untrusted."""
    recorded = version.tags.get(lineage.MODEL_SHA256)
    if recorded is None:
        raise DeployError(
            f"{version.name} v{version.version} has no {lineage.MODEL_SHA256} tag; register it with kfp-ct"
        )
    actual = registry.model_hash(model_dir)
    if actual != recorded:
        raise DeployError(
            f"{version.name} v{version.version}: model files at {model_dir} do not match the "
            f"hash recorded at registration ({actual[:12]} != {recorded[:12]}); the artifact is corrupted"
        )
    check_trusted(model_dir)


def _request(name: str, version: str, smoke, timeout_s: float, extra: dict[str, str]) -> DeployRequest:
    """Download `version`, check its content hash and describe it for a target."""
    ref = registry.get_version(name, version)
    model_dir = registry.download(name, version, settings.server_dir() / "models")
    verify_artifact(ref, model_dir)
    return DeployRequest(
        model_name=name,
        model_version=str(version),
        model_uri=f"models:/{name}/{version}",
        model_dir=model_dir,
        smoke=smoke,
        readiness_timeout_s=timeout_s,
        lineage={**ref.tags, **extra},
    )


def _roll_back(target: DeployTarget, name: str, champion: str | None, timeout_s: float) -> str:
    """Serve `champion` again after the aliases could not be moved; say what happened."""
    try:
        if champion is None:
            target.stop(name)
            return "no champion existed; the new version was taken down"
        target.deploy(_request(name, champion, None, timeout_s, {}))
        return f"rolled back: champion v{champion} is serving again"
    except Exception as exc:
        return f"ALSO FAILED to roll back to v{champion}: {exc}"


def deploy_version(
    target: DeployTarget | None,
    name: str,
    version: str,
    smoke: SmokeTest | None,
    expected_champion: str | None,
    readiness_timeout_s: float = 120.0,
    lineage_tags: dict[str, str] | None = None,
) -> DeployOutcome:
    """Serve `version` on `target`, then move `champion` (old one kept as `previous-champion`).

    The artifact's content hash is checked first. Check, serve and alias move happen under the
    registry's promotion lock, so of two racing runs exactly one moves `champion`; the other
    raises ChampionMoved before touching the endpoint. On any failure the previous champion
    serves again and the aliases are as they were.
    """
    request = None
    if target is not None:
        request = _request(name, version, smoke, readiness_timeout_s, lineage_tags or {})
    ttl = 2 * readiness_timeout_s + 300.0  # a deploy plus a roll back, with room to spare
    with registry.promotion_lock(name, ttl_s=ttl, wait_s=ttl):
        current = registry.aliases(name).get(lineage.CHAMPION)
        if current != expected_champion:
            raise registry.ChampionMoved(
                f"{name}: champion is now v{current}, but this run compared v{version} against "
                f"v{expected_champion}; nothing deployed, re-run to compare against v{current}"
            )
        endpoint = ""
        if target is not None and request is not None:
            endpoint = target.deploy(request).endpoint
            log.info("%s v%s serving at %s", name, version, endpoint)
        tags = {
            lineage.DEPLOYED_AT: datetime.now(UTC).isoformat(timespec="seconds"),
            lineage.ENDPOINT: endpoint or "none",
        }
        try:
            previous = registry.promote(name, str(version), expected_champion, tags)
        except Exception as exc:
            if target is None:
                raise
            undone = _roll_back(target, name, current, readiness_timeout_s)
            raise DeployError(f"{name} v{version}: moving the champion failed: {exc}; {undone}") from exc
    return DeployOutcome(target.name if target else "none", endpoint, str(version), previous)
