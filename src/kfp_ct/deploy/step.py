"""The deploy step: verify the registered version, make a target serve it, then move aliases."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from kfp_ct import lineage, registry, settings
from kfp_ct.deploy.base import DeployError, DeployRequest, DeployTarget, SmokeTest
from kfp_ct.errors import ParameterError

log = logging.getLogger(__name__)
TARGETS = ("none", "local", "kserve")


@dataclass(frozen=True)
class DeployOutcome:
    """What the deploy step did."""

    target: str
    endpoint: str
    champion_version: str
    previous_champion: str | None


def make_target(name: str, **options) -> DeployTarget | None:
    """The target called `name` (`none` gives None: promote without serving)."""
    if name == "none":
        return None
    if name == "local":
        from kfp_ct.deploy.local import LocalTarget

        return LocalTarget(port=options.get("port"))
    if name == "kserve":
        from kfp_ct.cluster.target import KServeTarget

        return KServeTarget.from_options(**options)
    raise ParameterError(f"unknown deploy target '{name}'; choose one of {TARGETS}")


def smoke_from_frame(model, frame: pd.DataFrame, features: list[str], rows: int = 20) -> SmokeTest:
    """Smoke rows from held-out data with the offline model's predictions as the expectation."""
    sample = frame[features].head(rows).reset_index(drop=True)
    expected = [v.item() if hasattr(v, "item") else v for v in model.predict(sample)]
    return SmokeTest(sample, expected)


def verify_artifact(version: registry.VersionRef, model_dir) -> None:
    """Fail when the files differ from the content hash recorded at registration."""
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

    On failure the target has already restored the old serving state; aliases are untouched.
    """
    ref = registry.get_version(name, version)
    endpoint = ""
    if target is not None:
        model_dir = registry.download(name, version, settings.server_dir() / "models")
        verify_artifact(ref, model_dir)
        request = DeployRequest(
            model_name=name,
            model_version=str(version),
            model_uri=f"models:/{name}/{version}",
            model_dir=model_dir,
            smoke=smoke,
            readiness_timeout_s=readiness_timeout_s,
            lineage={**ref.tags, **(lineage_tags or {})},
        )
        endpoint = target.deploy(request).endpoint
        log.info("%s v%s serving at %s", name, version, endpoint)
    tags = {
        lineage.DEPLOYED_AT: datetime.now(UTC).isoformat(timespec="seconds"),
        lineage.ENDPOINT: endpoint or "none",
    }
    previous = registry.promote(name, str(version), expected_champion, tags)
    return DeployOutcome(target.name if target else "none", endpoint, str(version), previous)
