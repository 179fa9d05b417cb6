"""Step `deploy`: verify the registered version, make a target serve it, then move aliases.

Rollout `direct` swaps the new version in after its smoke test. `canary` gives it a share of live
traffic for a bake and moves `champion` only when the bake promotes it (`kfp_ct.deploy.bake`);
`shadow` copies traffic to it and leaves `champion` where it is (alias `shadow` names it) until
the shadow evidence rule holds (`promote_from_shadow`, `kfp-ct promote --from-shadow`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from kfp_ct import lineage, settings
from kfp_ct.deploy.base import DeployRequest, DeployTarget, RolloutPlan, SmokeTest
from kfp_ct.errors import DeployError, ParameterError
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
    rollout: RolloutPlan = field(default_factory=RolloutPlan)  # direct, canary or shadow

    @classmethod
    def from_kfp(cls, *, kserve_options: str, rollout_thresholds: str = "{}", **values: Any) -> DeployParams:
        """Build from the component's parameters (JSON text for kserve options and thresholds).

        The rollout's fields (`rollout` is its strategy) come as parameters of their own;
        `rollout_thresholds` is a JSON object of any other `RolloutPlan` field.
        """
        kserve = values.get("target", "kserve") == "kserve"
        rollout, values = RolloutPlan.from_parameters(values, rollout_thresholds)
        options = json_object(kserve_options, "kserve_options") if kserve else {}
        return cls(kserve_options=options, rollout=rollout, **values)


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
    rollout: dict[str, Any] = field(default_factory=dict)  # strategy and, after a bake, its verdict


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
    Check, serve (and bake) and alias move happen under the registry's promotion lock, so of two
    racing runs exactly one moves `champion`; the other raises ChampionMoved before touching the
    endpoint (the champion compare judged against is read from the decision record). On any
    failure the previous champion serves again and the aliases are as they were. A canary or
    shadow with no champion serving deploys directly (there is nothing to compare it with).
    """
    from kfp_ct.deploy.targets import make_target

    name, version, timeout_s = params.model_name, params.model_version, params.readiness_timeout_s
    plan = params.rollout
    target = make_target(params.target, **params.kserve_options)
    if plan.strategy != "direct" and not hasattr(target, "start_canary"):
        raise ParameterError(f"rollout={plan.strategy} needs a target that runs canaries and shadows, "
                             f"not {params.target}")  # fmt: skip
    expected_champion = CompareOutput.read_champion(paths.decision_record)
    request = None
    if target is not None:
        smoke = smoke_test(paths.model, paths.test_set, record=paths.decision_record)
        request = _request(name, version, smoke, timeout_s)
    ttl = 2 * timeout_s + 300.0 + plan.bake_seconds * (1 + plan.max_extensions)  # room to spare
    with registry.promotion_lock(name, ttl_s=ttl, wait_s=ttl):
        held = registry.aliases(name)
        current = held.get(lineage.CHAMPION)
        if current != expected_champion:
            raise registry.ChampionMoved(
                f"{name}: champion is now v{current}, but this run compared v{version} against "
                f"v{expected_champion}; nothing deployed, re-run to compare against v{current}"
            )
        if plan.strategy != "direct" and current is not None and current != str(version):
            assert target is not None and request is not None
            if held.get(lineage.SHADOW) not in (None, str(version)):  # one candidate at a time
                _end_shadow(target, name, held[lineage.SHADOW])
            if plan.strategy == "canary":
                return _canary(target, request, current, plan)
            return _shadow(target, request, current, plan)
        if plan.strategy != "direct":
            log.info("%s: no other champion to run a %s beside; v%s is deployed directly", name,
                     plan.strategy, version)  # fmt: skip
        endpoint = ""
        if target is not None and request is not None:
            endpoint = target.deploy(request).endpoint
            log.info("%s v%s serving at %s", name, version, endpoint)
        previous = _promote(target, name, str(version), expected_champion, endpoint, {}, timeout_s)
        if lineage.SHADOW in held:  # a direct deploy ends a running shadow
            registry.set_alias(name, lineage.SHADOW, None)
    return DeployOutput(target.name if target else "none", endpoint, str(version), previous)


def _promote(
    target: DeployTarget | None,
    name: str,
    version: str,
    champion: str | None,
    endpoint: str,
    tags: dict[str, str],
    timeout_s: float,
) -> str | None:
    """Move `champion` to the version now serving; on failure serve the champion again and raise."""
    tags = {
        lineage.DEPLOYED_AT: datetime.now(UTC).isoformat(timespec="seconds"),
        lineage.ENDPOINT: endpoint or "none",
        **tags,
    }
    try:
        previous = registry.promote(name, version, champion, tags)
    except Exception as exc:
        if target is None:
            raise
        undone = _roll_back(target, name, champion, timeout_s)
        raise DeployError(f"{name} v{version}: moving the champion failed: {exc}; {undone}") from exc
    return previous


def _canary(target: Any, request: DeployRequest, champion: str, plan: RolloutPlan) -> DeployOutput:
    """Bake `request`'s version as a canary; promote it or raise DeployError with the reasons."""
    from kfp_ct.capture.config import capture_uri
    from kfp_ct.deploy.bake import run_canary

    name, version = request.model_name, str(request.model_version)
    verdict = run_canary(target, request, champion, plan, capture_uri())
    tags = {"kfp_ct.rollout.strategy": "canary", **verdict.tags()}
    rollout = {"strategy": "canary", **verdict.to_dict()}
    if not verdict.promote:
        _tag(name, version, tags)
        raise DeployError(
            f"canary of {name} v{version} rolled back: {'; '.join(verdict.reasons)}; "
            f"champion v{champion} serves all traffic"
        )
    endpoint = target.current_endpoint(name) or ""
    previous = _promote(target, name, version, champion, endpoint, tags, request.readiness_timeout_s)
    return DeployOutput(target.name, endpoint, version, previous, rollout)


def _shadow(target: Any, request: DeployRequest, champion: str, plan: RolloutPlan) -> DeployOutput:
    """Start `request`'s version as a shadow of `champion`; bake and promote it when asked."""
    name, version = request.model_name, str(request.model_version)
    endpoint = target.start_shadow(request).endpoint
    since = datetime.now(UTC).isoformat(timespec="milliseconds")
    registry.set_alias(name, lineage.SHADOW, version)
    _tag(name, version, {"kfp_ct.rollout.strategy": "shadow", lineage.SHADOW_SINCE: since})
    rollout: dict[str, Any] = {"strategy": "shadow", "shadow": version, "since": since}
    if not plan.promote_after_shadow:
        log.info("%s v%s shadows champion v%s from %s; champion unchanged", name, version, champion, since)
        return DeployOutput(target.name, endpoint, champion, None, rollout)
    from kfp_ct.capture.config import capture_uri
    from kfp_ct.deploy.bake import bake_shadow

    captured = target.captured_as(name)
    verdict = bake_shadow(capture_uri(), captured, champion, version, plan, datetime.fromisoformat(since))
    rollout.update(verdict.to_dict())
    if not verdict.promote:
        _tag(name, version, verdict.tags("kfp_ct.shadow"))
        log.info("%s v%s stays a shadow: %s", name, version, "; ".join(verdict.reasons))
        return DeployOutput(target.name, endpoint, champion, None, rollout)
    previous = _conclude_promotion(target, name, version, champion, verdict, request.readiness_timeout_s)
    return DeployOutput(target.name, endpoint, version, previous, rollout)


def _conclude_promotion(
    target: Any, name: str, version: str, champion: str, verdict: Any, timeout_s: float
) -> str | None:
    """Route all traffic to the shadow version, then move `champion` to it (under the caller's lock)."""
    endpoint = target.conclude(name, version, promote=True).endpoint
    tags = {"kfp_ct.rollout.strategy": "shadow", **verdict.tags("kfp_ct.shadow")}
    previous = _promote(target, name, version, champion, endpoint, tags, timeout_s)
    registry.set_alias(name, lineage.SHADOW, None)
    return previous


def promote_from_shadow(
    name: str, target: Any, plan: RolloutPlan, uri: str, timeout_s: float = 300.0
) -> tuple[bool, Any]:
    """Promote the version aliased `shadow` when the shadow evidence rule holds on its captured rows.

    Returns (promoted, verdict); under the promotion lock the champion is checked unchanged, the
    target serves the shadow version alone, then `champion` moves. DeployError when no shadow runs.
    """
    from kfp_ct.deploy.bake import shadow_report

    champion, shadow, since = shadow_state(name)
    verdict = shadow_report(uri, name, champion, shadow, plan, since)
    if not verdict.promote:
        return False, verdict
    with registry.promotion_lock(name, ttl_s=2 * timeout_s + 300.0, wait_s=timeout_s):
        if registry.aliases(name).get(lineage.CHAMPION) != champion:
            raise registry.ChampionMoved(f"{name}: champion moved while the shadow was judged; run it again")
        _conclude_promotion(target, name, shadow, champion, verdict, timeout_s)
    return True, verdict


def shadow_state(name: str) -> tuple[str, str, datetime | None]:
    """(champion, shadow version, when the shadow started) of `name`; DeployError when none runs."""
    found = registry.aliases(name)
    champion, shadow = found.get(lineage.CHAMPION), found.get(lineage.SHADOW)
    if champion is None or shadow is None:
        raise DeployError(
            f"{name}: no shadow rollout is running (no '{lineage.SHADOW}' alias beside a champion)"
        )
    since = registry.get_version(name, shadow).tags.get(lineage.SHADOW_SINCE)
    return champion, shadow, datetime.fromisoformat(since) if since else None


def _end_shadow(target: Any, name: str, shadow: str) -> None:
    """Stop copying traffic to the running shadow `shadow` (the champion serves alone), drop its alias."""
    log.info("%s: ending the shadow of v%s before the new rollout", name, shadow)
    try:
        target.conclude(name, shadow, promote=False)
    except DeployError as exc:  # not loaded any more: it receives no copies either
        log.warning("%s: the shadow v%s was not running: %s", name, shadow, exc)
    registry.set_alias(name, lineage.SHADOW, None)


def _tag(name: str, version: str, tags: dict[str, str]) -> None:
    """Best effort: the verdict on the version (the rollout's outcome does not depend on it)."""
    try:
        registry.set_version_tags(name, version, tags)
    except Exception as exc:
        log.warning("%s v%s: could not tag the rollout verdict: %s", name, version, exc)
