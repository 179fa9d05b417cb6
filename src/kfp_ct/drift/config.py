"""Thresholds and test choices for the drift decision."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from kfp_ct.errors import ParameterError

NUMERIC_TESTS = ("ks", "wasserstein")
CATEGORICAL_TESTS = ("chi2", "psi")


@dataclass(frozen=True)
class DriftConfig:
    """Which test runs per feature type, and the thresholds of the decision.

    With large windows every p-value is tiny, so a numeric or categorical feature counts as
    drifted only when the test is significant AND the effect size is material: KS statistic
    >= ``ks_threshold`` (the largest gap between the two CDFs), or PSI >= ``psi_threshold``.
    Wasserstein and PSI used as the test have no p-value: their effect size alone decides.

    Attributes:
        numeric_test: ``ks`` (KS two-sample, p-value + statistic) or ``wasserstein``
            (distance scaled by the reference std).
        categorical_test: ``chi2`` (homogeneity test, p-value + PSI) or ``psi`` (PSI only).
        alpha: significance level for the p-values.
        ks_threshold: minimum KS statistic for a numeric feature to drift.
        wasserstein_threshold: minimum scaled Wasserstein distance (Evidently's default 0.1).
        psi_threshold: minimum PSI for a categorical feature to drift.
        new_category_share: a feature drifts when categories unseen in the reference make up at
            least this share of the window; None disables the rule.
        missing_threshold: a feature drifts when its missing share grows by at least this much.
        drift_share: retrain when at least this share of features drifted (Evidently's 0.5).
        performance_tolerance: allowed relative worsening of a recorded champion metric.
        max_prediction_rows: rows per side the champion predicts on (seeded sample); None = all.
        seed: random seed for every sample.
        n_jobs: threads for per-feature tests (numpy releases the GIL while sorting).
    """

    numeric_test: str = "ks"
    categorical_test: str = "chi2"
    alpha: float = 0.05
    ks_threshold: float = 0.1
    wasserstein_threshold: float = 0.1
    psi_threshold: float = 0.2
    new_category_share: float | None = 0.01
    missing_threshold: float = 0.1
    drift_share: float = 0.5
    performance_tolerance: float = 0.05
    max_prediction_rows: int | None = 200_000
    seed: int = 0
    n_jobs: int = 2

    def __post_init__(self) -> None:
        if self.numeric_test not in NUMERIC_TESTS:
            raise ParameterError(f"numeric_test={self.numeric_test!r} is unknown: use one of {NUMERIC_TESTS}")
        if self.categorical_test not in CATEGORICAL_TESTS:
            raise ParameterError(
                f"categorical_test={self.categorical_test!r} is unknown: use one of {CATEGORICAL_TESTS}"
            )
        for name in ("alpha", "drift_share"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise ParameterError(f"{name}={value} must be in (0, 1]")
        for name in (
            "ks_threshold",
            "wasserstein_threshold",
            "psi_threshold",
            "missing_threshold",
            "performance_tolerance",
        ):
            if getattr(self, name) < 0:
                raise ParameterError(f"{name}={getattr(self, name)} must be >= 0")
        if self.max_prediction_rows is not None and self.max_prediction_rows < 1:
            raise ParameterError(f"max_prediction_rows={self.max_prediction_rows} must be >= 1")
        if self.n_jobs < 1:
            raise ParameterError(f"n_jobs={self.n_jobs} must be >= 1")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> DriftConfig:
        """Build a config from a dict (e.g. a pipeline's JSON parameter); unknown keys fail."""
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ParameterError(f"unknown drift setting(s) {unknown}: known are {sorted(known)}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return asdict(self)
