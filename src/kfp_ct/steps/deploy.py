"""Step `deploy`: verify the registered version, make a target serve it, then move aliases."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from kfp_ct import lineage, settings
from kfp_ct.deploy.base import DeployRequest, DeployTarget, SmokeTest
from kfp_ct.errors import DeployError
from kfp_ct.params import json_object
from kfp_ct.steps.compare import CompareOutput
from kfp_ct.tracking import models, registry

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class DeployParams:
    """Which registered version to serve, where, and how long to wait for it."""

    model_name: str = settings.DEFAULT_MODEL_NAME
    model_version: str
    target: str = "kserve"  # none, local or kserve
    readiness_timeout_s: float = 300.0
    kserve_options: dict[str, Any] = field(default_factory=dict)  # namespace, mode, runtime, canary...

    @classmethod
    def from_kfp(cls, *, kserve_options: str, **fields: Any) -> DeployParams:
        """Build from the component's parameters (`kserve_options` as JSON text, read for kserve only)."""
        kserve = fields.get("target", "kserve") == "kserve"
        return cls(kserve_options=json_object(kserve_options, "kserve_options") if kserve else {}, **fields)


@dataclass(frozen=True, kw_only=True)
class DeployPaths:
    """Files deploy reads: the offline model and held-out rows (smoke test), compare's record."""

    model: Path
    test_set: Path
    decision_record: Path


@dataclass(frozen=True)
class DeployOutput:
    """What the deploy step did."""

    target: str
    endpoint: str
    champion_version: str
    previous_champion: str | None


def smoke_test(model_dir: Path, test_path: Path, rows: int = 20, record: Path | None = None) -> SmokeTest:
    """Smoke rows from held-out data with the offline model's predictions as the expectation.

    The expectations come from compare's decision `record` when it carries them (compare
    already predicted those rows with this model), else from loading the model here.
    """
    smoke = CompareOutput.read(record).get("smoke") if record is not None else None
    if smoke and len(smoke.get("expected", ())) >= rows:
        features, expected = list(smoke["features"]), list(smoke["expected"][:rows])
    else:
        model = models.load_model(model_dir)
        features, expected = list(model.feature_names_in_), None
    sample = pd.read_parquet(test_path, columns=features).head(rows).reset_index(drop=True)
    if expected is None:
        expected = [v.item() if hasattr(v, "item") else v for v in model.predict(sample)]
    return SmokeTest(sample, expected[: len(sample)])


def check_trusted(model_dir) -> None:
    """Fail unless the model is skops with trusted types inside `SKOPS_TRUSTED_TYPES`.

    MLflow loads a skops model with the allowlist written in its own MLmodel file, so a widened
    list there (or a pickle) would let the file run code: kfp-ct never loads one.
    """
    import yaml

    from kfp_ct.core.skops_types import SKOPS_TRUSTED_TYPES

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


def _request(name: str, version: str, smoke: SmokeTest | None, timeout_s: float) -> DeployRequest:
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
        lineage=dict(ref.tags),
    )


def _roll_back(target: DeployTarget, name: str, champion: str | None, timeout_s: float) -> str:
    """Serve `champion` again after the aliases could not be moved; say what happened."""
    try:
        if champion is None:
            target.stop(name)
            return "no champion existed; the new version was taken down"
        target.deploy(_request(name, champion, None, timeout_s))
        return f"rolled back: champion v{champion} is serving again"
    except Exception as exc:
        return f"ALSO FAILED to roll back to v{champion}: {exc}"


def run(params: DeployParams, paths: DeployPaths) -> DeployOutput:
    """Serve the version on the target, then move `champion` (old one kept as `previous-champion`).

    Target `none` serves nothing and only moves the aliases. Otherwise the artifact's content hash
    is checked first and the served model must answer the smoke rows as the offline model does.
    Check, serve and alias move happen under the registry's promotion lock, so of two racing runs
    exactly one moves `champion`; the other raises ChampionMoved before touching the endpoint
    (the champion compare judged against is read from the decision record). On any failure the
    previous champion serves again and the aliases are as they were.
    """
    from kfp_ct.deploy.targets import make_target

    name, version, timeout_s = params.model_name, params.model_version, params.readiness_timeout_s
    target = make_target(params.target, **params.kserve_options)
    expected_champion = CompareOutput.read_champion(paths.decision_record)
    request = None
    if target is not None:
        smoke = smoke_test(paths.model, paths.test_set, record=paths.decision_record)
        request = _request(name, version, smoke, timeout_s)
    ttl = 2 * timeout_s + 300.0  # a deploy plus a roll back, with room to spare
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
            undone = _roll_back(target, name, current, timeout_s)
            raise DeployError(f"{name} v{version}: moving the champion failed: {exc}; {undone}") from exc
    return DeployOutput(target.name if target else "none", endpoint, str(version), previous)
