"""The seam every deploy target implements.

A target makes one registered model version serve, proves it with a smoke request, and on any
failure puts the previous state back before raising `DeployError`. Moving MLflow aliases is not a
target's job: the deploy step does it once the target returns (see `kfp_ct.steps.deploy`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from kfp_ct.errors import ParameterError

ROLLOUTS = ("direct", "canary", "shadow")
ON_INSUFFICIENT = ("promote", "rollback", "extend")


@dataclass(frozen=True)
class SmokeTest:
    """Rows to send to a freshly deployed model and what the offline model predicted for them."""

    features: pd.DataFrame
    expected: list
    # Share of rows whose served prediction must equal the offline one (regression: within rtol).
    min_agreement: float = 1.0
    rtol: float = 1e-6


@dataclass(frozen=True)
class DeployRequest:
    """What to deploy and how to prove it works."""

    model_name: str
    model_version: str
    model_uri: str  # models:/<name>/<version>
    model_dir: Path | None  # local copy of the model files, when the target serves from disk
    smoke: SmokeTest | None
    readiness_timeout_s: float = 120.0
    lineage: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class RolloutPlan:
    """How a new version reaches traffic, and the live evidence it needs before `champion` moves.

    `direct`: today's swap after the smoke test. `canary`: the new version answers
    `canary_percent` of live requests for `bake_seconds`, then is promoted when every threshold
    holds against the champion's signals over the same period, else rolled back. `shadow`: the
    champion answers everything and the new version gets an asynchronous copy of each request;
    `champion` does not move (`kfp-ct promote --from-shadow` does, on `min_shadow_requests` and
    `max_disagreement`).
    """

    strategy: str = "direct"
    canary_percent: int = 10
    bake_seconds: float = 300.0
    min_canary_requests: int = 100
    on_insufficient: str = "rollback"  # when the bake saw fewer than min_canary_requests
    max_extensions: int = 3  # bakes `extend` may add before it rolls back
    min_success_rate: float = 0.99
    max_latency_p99_ms: float = 100.0
    max_prediction_shift: float = 0.2  # PSI of the canary's predictions against the champion's
    max_metric_drop: float = 0.05  # relative drop of the labelled-row metric against the champion
    min_labelled_rows: int = 30  # per version, before the labelled-row metric is judged
    min_shadow_requests: int = 500
    max_disagreement: float = 0.05
    promote_after_shadow: bool = False  # at the end of a shadow bake, promote on the evidence rule

    @classmethod
    def from_parameters(
        cls, values: Mapping[str, Any], thresholds: str = "{}"
    ) -> tuple[RolloutPlan, dict[str, Any]]:
        """The plan the pipeline parameters describe, and the other parameters.

        `rollout` is the strategy; a parameter named like a field sets it; `thresholds` is the
        JSON object of `rollout_thresholds` (any other field). ParameterError names what is wrong.
        """
        from kfp_ct.params import json_object

        known = {f.name for f in fields(cls)} - {"strategy"}
        extra = json_object(thresholds, "rollout_thresholds")
        unknown = sorted(set(extra) - known)
        if unknown:
            raise ParameterError(f"rollout_thresholds: unknown keys {unknown}; known: {sorted(known)}")
        given = {k: v for k, v in values.items() if k in known or k == "rollout"}
        rest = {k: v for k, v in values.items() if k not in given}
        strategy = given.pop("rollout", "direct")
        try:
            return cls(strategy=strategy, **extra, **given), rest
        except TypeError as exc:  # a threshold of the wrong type
            raise ParameterError(f"rollout: {exc}") from None

    def __post_init__(self) -> None:
        if self.strategy not in ROLLOUTS:
            raise ParameterError(f"rollout={self.strategy!r}: choose one of {', '.join(ROLLOUTS)}")
        if self.on_insufficient not in ON_INSUFFICIENT:
            raise ParameterError(
                f"on_insufficient={self.on_insufficient!r}: choose one of {', '.join(ON_INSUFFICIENT)}"
            )
        if not 0 < self.canary_percent < 100:
            raise ParameterError(f"canary_percent={self.canary_percent}: must be between 1 and 99")
        if self.bake_seconds < 0 or self.min_canary_requests < 0 or self.max_extensions < 0:
            raise ParameterError("bake_seconds, min_canary_requests and max_extensions must be >= 0")


@dataclass(frozen=True)
class DeployResult:
    """Where the model now serves."""

    endpoint: str  # base URL; V2 inference at {endpoint}/v2/models/{model_name}/infer
    detail: dict[str, str] = field(default_factory=dict)


class DeployTarget(Protocol):
    """A place a model version can be made to serve."""

    name: str

    def deploy(self, request: DeployRequest) -> DeployResult:
        """Serve `request`'s version, smoke test it, roll back and raise DeployError on failure."""
        ...

    def current_endpoint(self, model_name: str) -> str | None:
        """The endpoint serving `model_name` now, if any."""
        ...

    def stop(self, model_name: str) -> None:
        """Stop serving `model_name` (nothing serving it is not an error)."""
        ...


class ProgressiveTarget(DeployTarget, Protocol):
    """A target that can run a canary or a shadow beside the serving version.

    The bake (waiting, reading live signals from the capture store, judging) is one driver for
    every target; a target only changes where traffic goes.
    """

    def start_canary(self, request: DeployRequest, percent: int) -> DeployResult:
        """Serve `request`'s version beside the champion for `percent`% of requests.

        Smoke-tested first; on failure the champion alone serves again and DeployError is raised.
        """
        ...

    def start_shadow(self, request: DeployRequest) -> DeployResult:
        """Keep the champion answering every request; copy each one to `request`'s version."""
        ...

    def captured_as(self, model_name: str) -> str:
        """The model name this target's servers capture `model_name`'s traffic under."""
        ...

    def conclude(self, model_name: str, version: str, promote: bool) -> DeployResult:
        """End a canary or shadow: all traffic to `version` (promote) or to the champion alone."""
        ...
