"""Wait for an InferenceService to serve what was last written to it.

Ready means all of: `status.observedGeneration` >= the generation written, condition `Ready`
True (and `PredictorReady`, when reported), `status.modelStatus.transitionStatus` UpToDate (when
reported) and, for a Standard-mode canary, `CanaryPredictorReady` True with the canary's
`canaryStatuses[]` entry ready. A model that cannot load (`BlockedByFailedLoad`, `InvalidSpec`, or
`activeModelState: FailedToLoad`) fails at once with the reason from status instead of waiting
out the timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kfp_ct.errors import ModelLoadFailed, ReadinessTimeout

FAILED_TRANSITIONS = ("BlockedByFailedLoad", "InvalidSpec")


@dataclass(frozen=True)
class Readiness:
    """One look at an InferenceService's status."""

    ready: bool
    failed: bool
    detail: str


def _conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c.get("type", ""): c for c in status.get("conditions") or []}


def _failure(model_status: dict[str, Any] | None, where: str) -> str | None:
    if not model_status:
        return None
    transition = model_status.get("transitionStatus")
    active = (model_status.get("states") or {}).get("activeModelState")
    if transition not in FAILED_TRANSITIONS and active != "FailedToLoad":
        return None
    info = model_status.get("lastFailureInfo") or {}
    states = ", ".join(str(s) for s in (transition, active and f"activeModelState {active}") if s)
    reason = info.get("reason") or "no reason in status"
    message = info.get("message") or "no message in status"
    return f"{where} model failed to load ({states}; {reason}): {message}"


def assess(isvc: dict[str, Any], generation: int, canary: str | None = None) -> Readiness:
    """Judge readiness of `isvc` for the spec at `generation` (pure; see module docstring)."""
    status = isvc.get("status") or {}
    observed = status.get("observedGeneration")
    conds = _conditions(status)
    failure = _failure(status.get("modelStatus"), "predictor")
    for entry in status.get("canaryStatuses") or []:
        if canary is None or entry.get("name") == canary:
            failure = failure or _failure(entry.get("modelStatus"), f"canary '{entry.get('name')}'")
    if failure and observed is not None and observed >= generation:
        return Readiness(False, True, failure)
    if observed is None or observed < generation:
        return Readiness(False, False, f"observedGeneration {observed} < {generation}")
    for ctype in ("Ready", "PredictorReady"):
        cond = conds.get(ctype)
        if (cond is None and ctype == "Ready") or (cond and cond.get("status") != "True"):
            why = f"{cond.get('reason', '')}: {cond.get('message', '')}" if cond else "absent"
            return Readiness(False, False, f"{ctype} not True ({why})")
    transition = (status.get("modelStatus") or {}).get("transitionStatus")
    if transition not in (None, "", "UpToDate"):
        return Readiness(False, False, f"modelStatus.transitionStatus {transition}")
    if canary is not None:
        cond = conds.get("CanaryPredictorReady")
        if cond is None or cond.get("status") != "True":
            why = f"{cond.get('reason', '')}: {cond.get('message', '')}" if cond else "absent"
            return Readiness(False, False, f"CanaryPredictorReady not True ({why})")
        entries = [e for e in status.get("canaryStatuses") or [] if e.get("name") == canary]
        if not entries or not entries[0].get("ready"):
            return Readiness(False, False, f"canaryStatuses['{canary}'] not ready")
    return Readiness(True, False, "ready")


def wait_ready(
    get: Callable[[], dict[str, Any]],
    generation: int,
    timeout_s: float,
    interval_s: float = 2.0,
    canary: str | None = None,
    what: str = "InferenceService",
) -> dict[str, Any]:
    """Poll `get()` until `assess` says ready; return the last object.

    Raises:
        ModelLoadFailed: status reports a model that cannot load.
        ReadinessTimeout: not ready after `timeout_s` seconds (message has the last status).
    """
    start = time.monotonic()
    while True:
        isvc = get()
        state = assess(isvc, generation, canary)
        if state.ready:
            return isvc
        if state.failed:
            raise ModelLoadFailed(f"{what}: {state.detail}")
        waited = time.monotonic() - start
        if waited >= timeout_s:
            raise ReadinessTimeout(
                f"{what} was not ready after {timeout_s:g} s (last status: {state.detail}); "
                "raise the deploy step's readiness_timeout_s parameter if the model is large or "
                "the node pool scales up slowly, and check `kubectl describe inferenceservice` "
                "and the predictor pods' events (Pending pods: profile/node pool; "
                "storage-initializer errors: storage URI and ServiceAccount credentials)"
            )
        time.sleep(min(interval_s, max(timeout_s - waited, 0.0)))
