"""The bake: one driver for every progressive target (`deploy.base.ProgressiveTarget`).

A target only moves traffic (`start_canary`, `start_shadow`, `conclude`). This module waits
`bake_seconds` with progress lines, reads both versions' captured rows over the same period from
the capture store (and the labels sent for them), judges them (`kfp_ct.deploy.analysis`), and
ends the rollout through the target: the candidate takes all traffic, or the champion alone
serves again. A bake that saw too few canary requests does what `on_insufficient` says; `extend`
bakes again (the window grows) up to `max_extensions` times, then rolls back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pandas as pd

from kfp_ct.capture import store
from kfp_ct.capture.config import CaptureConfig
from kfp_ct.capture.signals import by_version, traffic
from kfp_ct.deploy import analysis
from kfp_ct.deploy.base import DeployRequest, ProgressiveTarget, RolloutPlan
from kfp_ct.errors import DeployError

log = logging.getLogger(__name__)
PROGRESS_LINES = 5  # progress lines per bake period (at most one every 2 s)
SETTLE_MARGIN_S = 0.5  # beyond the capture flush interval, before the window is read


def wait(seconds: float, what: str, sleep: Callable[[float], None] = time.sleep) -> None:
    """Sleep `seconds`, logging how much is left a few times on the way."""
    step = max(seconds / PROGRESS_LINES, 2.0)
    left = seconds
    while left > 0:
        chunk = min(step, left)
        sleep(chunk)
        left -= chunk
        if left > 0:
            log.info("%s: %.0f s of %.0f s baked, %.0f s left", what, seconds - left, seconds, left)


def read_window(uri: str, name: str, since: datetime, until: datetime | None = None) -> pd.DataFrame:
    """Captured client traffic of `name` over (since, until] (smoke tests left out)."""
    return traffic(store.read_capture(uri, name, since, until))


def settle(flush_s: float | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
    """Wait until the server wrote what it captured so far (one flush interval and a margin)."""
    sleep((flush_s if flush_s is not None else CaptureConfig.from_env().flush_interval_s) + SETTLE_MARGIN_S)


def canary_verdict(
    frame: pd.DataFrame,
    labels: pd.DataFrame,
    champion: str,
    candidate: str,
    plan: RolloutPlan,
    extensions_left: int = 0,
) -> analysis.Verdict:
    """Judge a canary on the rows each version answered over one window."""
    mine, theirs = by_version(frame, candidate), by_version(frame, champion)
    return analysis.judge_canary(
        analysis.version_signals(theirs, champion, labels),
        analysis.version_signals(mine, candidate, labels),
        analysis.prediction_shift(theirs, mine),
        plan,
        extensions_left,
    )


def shadow_verdict(
    frame: pd.DataFrame, labels: pd.DataFrame, champion: str, shadow: str, plan: RolloutPlan
) -> analysis.Verdict:
    """Judge a shadow on the champion's answers and the shadow's copies of the same requests."""
    answers, copies = by_version(frame, champion), by_version(frame, shadow, store.SHADOW_ROLE)
    agreed, compared = analysis.agreement(answers, copies)
    verdict = analysis.judge_shadow(
        analysis.version_signals(answers, champion, labels),
        analysis.version_signals(copies, shadow, labels),
        agreed,
        compared,
        plan,
    )
    verdict.prediction_shift = analysis.prediction_shift(answers, copies)
    verdict.extra["compared_requests"] = compared
    return verdict


def bake_canary(
    uri: str,
    name: str,
    champion: str,
    candidate: str,
    plan: RolloutPlan,
    since: datetime,
    sleep: Callable[[float], None] = time.sleep,
) -> analysis.Verdict:
    """Wait out the bake (and its extensions) and judge the canary; the verdict says what to do."""
    extensions = 0
    while True:
        wait(plan.bake_seconds, f"canary {name} v{candidate} ({plan.canary_percent}%)", sleep)
        until = datetime.now(UTC)
        settle(sleep=sleep)
        frame = read_window(uri, name, since, until)
        verdict = canary_verdict(
            frame, store.read_feedback(uri, name), champion, candidate, plan, plan.max_extensions - extensions
        )
        log.info("canary %s v%s: %s (%s)", name, candidate, verdict.action, "; ".join(verdict.reasons))
        if verdict.action != analysis.EXTEND:
            verdict.extra.update(since=since.isoformat(), until=until.isoformat(), extensions=extensions)
            return verdict
        extensions += 1


def run_canary(
    target: ProgressiveTarget,
    request: DeployRequest,
    champion: str,
    plan: RolloutPlan,
    uri: str,
    sleep: Callable[[float], None] = time.sleep,
) -> analysis.Verdict:
    """Start a canary of `request`'s version beside `champion`, bake it, and conclude it."""
    name, candidate = request.model_name, str(request.model_version)
    target.start_canary(request, plan.canary_percent)
    since = datetime.now(UTC) - timedelta(milliseconds=1)
    log.info("canary %s v%s takes %d%% of traffic for %.0f s", name, candidate, plan.canary_percent,
             plan.bake_seconds)  # fmt: skip
    try:
        verdict = bake_canary(uri, target.captured_as(name), champion, candidate, plan, since, sleep)
    except BaseException as exc:  # never leave a canary half-running: the champion serves alone
        target.conclude(name, candidate, promote=False)
        raise DeployError(f"canary of {name} v{candidate} stopped: {exc}; v{champion} serves alone") from exc
    try:
        target.conclude(name, candidate, promote=verdict.promote)
    except Exception as exc:
        if verdict.promote:  # the candidate could not take all traffic: the champion serves alone
            target.conclude(name, candidate, promote=False)
        raise DeployError(f"canary of {name} v{candidate}: concluding failed: {exc}") from exc
    return verdict


def shadow_report(
    uri: str, name: str, champion: str, shadow: str, plan: RolloutPlan, since: datetime | None = None
) -> analysis.Verdict:
    """The shadow's evidence so far: agreement, both versions' signals, and the rule's verdict."""
    frame = read_window(uri, name, since) if since else traffic(store.read_capture(uri, name))
    return shadow_verdict(frame, store.read_feedback(uri, name), champion, shadow, plan)


def bake_shadow(
    uri: str,
    name: str,
    champion: str,
    shadow: str,
    plan: RolloutPlan,
    since: datetime,
    sleep: Callable[[float], None] = time.sleep,
) -> analysis.Verdict:
    """Wait out a shadow bake, then judge it by the shadow evidence rule."""
    wait(plan.bake_seconds, f"shadow {name} v{shadow}", sleep)
    settle(sleep=sleep)
    verdict = shadow_report(uri, name, champion, shadow, plan, since)
    log.info("shadow %s v%s: %s (%s)", name, shadow, verdict.action, "; ".join(verdict.reasons))
    return verdict
