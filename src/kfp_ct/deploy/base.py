"""The seam every deploy target implements.

A target makes one registered model version serve, proves it with a smoke request, and on any
failure puts the previous state back before raising `DeployError`. Moving MLflow aliases is not a
target's job: the deploy step does it once the target returns (see `kfp_ct.steps.deploy`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pandas as pd


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
