"""Thresholds and test choices for the drift decision, with what each default means.

The decision asks, for every feature, for the champion's predictions and for its recorded
metric: "is the change larger than a threshold we care about?", and answers only when the data
show it beyond sampling error. Each question is a one-sided test of H0 "the change is at most
the threshold"; Holm's procedure over all of them keeps the chance that the decision raises any
false alarm at or below ``alpha``. A change counts when its confidence bound, not its point
estimate, clears the threshold: small windows need a large change to say retrain, large windows
detect every change above the threshold and, as they grow, stop reacting to changes below it.
See docs/drift.md for the method and the measured calibration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from kfp_ct.errors import ParameterError

NUMERIC_TESTS = ("ks", "wasserstein")
CATEGORICAL_TESTS = ("tv", "psi")
ALIASES = {"ks_threshold": "min_effect"}  # earlier names, still accepted by `from_dict`
REPLACED_TESTS = {"chi2": "tv (total variation with a permutation test, on the same scale as KS)"}


@dataclass(frozen=True)
class DriftConfig:
    """Which test runs per feature type, and the thresholds of the decision.

    Defaults, in plain words:

    - ``alpha = 0.05``: when nothing changed beyond the thresholds, at most 5 % of windows get
      any feature, the prediction check or the metric check flagged (Holm over all checks).
    - ``min_effect = 0.04``: a feature drifts when the share of rows in some range (numeric:
      values below some cut-off, the KS statistic) or in some set of categories (total
      variation) moved by more than 4 percentage points, beyond sampling error.
    - ``wasserstein_threshold = 0.1``: with ``numeric_test="wasserstein"``, a numeric feature
      drifts when values moved by more than 0.1 reference standard deviations on average.
    - ``psi_threshold = 0.2``: with ``categorical_test="psi"``, the PSI level that counts.
    - ``new_category_share = 0.01``: a categorical feature drifts when categories the
      reference never saw take more than 1 % of the window beyond what a sample of the
      reference's size would miss anyway (long-tailed columns miss many values by chance).
    - ``missing_threshold = 0.1``: a feature drifts when its missing share grew by more than
      10 percentage points.
    - ``drift_share = 0.5``: retrain on data drift when at least half of the features drifted
      (prediction drift or performance decay alone also retrain).
    - ``performance_tolerance = 0.05``: the champion's metric decayed when, on the labelled
      window, it is worse than recorded by more than 5 % of the recorded value, counting the
      sampling error of both values (the recorded one needs its row count, ``n_rows``).

    Attributes:
        numeric_test: ``ks`` (KS statistic, Kolmogorov bound) or ``wasserstein`` (distance
            scaled by the reference std, permutation null).
        categorical_test: ``tv`` (total variation, permutation null) or ``psi``.
        alpha: family-wise error rate of the whole decision.
        min_effect: smallest KS statistic or total variation that counts as drift.
        wasserstein_threshold: smallest scaled Wasserstein distance that counts.
        psi_threshold: smallest PSI that counts (``categorical_test="psi"``).
        new_category_share: smallest excess share of unseen categories that counts; None
            disables the check.
        missing_threshold: smallest growth of the missing share that counts.
        drift_share: retrain when at least this share of features drifted.
        performance_tolerance: allowed relative worsening of a recorded champion metric.
        max_prediction_rows: rows per side the champion predicts on (seeded sample); None = all.
        n_permutations: permutation draws per test (the smallest p-value is 1 / (draws + 1)).
        seed: random seed for every sample and permutation.
        n_jobs: threads for per-feature tests (numpy releases the GIL while sorting).
    """

    numeric_test: str = "ks"
    categorical_test: str = "tv"
    alpha: float = 0.05
    min_effect: float = 0.04
    wasserstein_threshold: float = 0.1
    psi_threshold: float = 0.2
    new_category_share: float | None = 0.01
    missing_threshold: float = 0.1
    drift_share: float = 0.5
    performance_tolerance: float = 0.05
    max_prediction_rows: int | None = 200_000
    n_permutations: int = 1999
    seed: int = 0
    n_jobs: int = 2

    def __post_init__(self) -> None:
        if self.numeric_test not in NUMERIC_TESTS:
            raise ParameterError(f"numeric_test={self.numeric_test!r} is unknown: use one of {NUMERIC_TESTS}")
        if self.categorical_test not in CATEGORICAL_TESTS:
            hint = REPLACED_TESTS.get(self.categorical_test)
            raise ParameterError(
                f"categorical_test={self.categorical_test!r} is unknown: use one of {CATEGORICAL_TESTS}"
                + (f"; it was replaced by {hint}" if hint else "")
            )
        for name in ("alpha", "drift_share"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise ParameterError(f"{name}={value} must be in (0, 1]")
        if self.alpha >= 0.5:
            raise ParameterError(f"alpha={self.alpha} must be below 0.5")
        for name in (
            "min_effect",
            "wasserstein_threshold",
            "psi_threshold",
            "missing_threshold",
            "performance_tolerance",
        ):
            if getattr(self, name) < 0:
                raise ParameterError(f"{name}={getattr(self, name)} must be >= 0")
        if self.new_category_share is not None and not 0 <= self.new_category_share < 1:
            raise ParameterError(f"new_category_share={self.new_category_share} must be in [0, 1) or None")
        if self.max_prediction_rows is not None and self.max_prediction_rows < 1:
            raise ParameterError(f"max_prediction_rows={self.max_prediction_rows} must be >= 1")
        if self.n_permutations < 199:
            raise ParameterError(f"n_permutations={self.n_permutations} must be >= 199")
        if self.n_jobs < 1:
            raise ParameterError(f"n_jobs={self.n_jobs} must be >= 1")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> DriftConfig:
        """Build a config from a dict (e.g. a pipeline's JSON parameter); unknown keys fail.

        ``ks_threshold``, the earlier name of ``min_effect`` (which now also applies to total
        variation), is still accepted.
        """
        values = dict(values or {})
        for old, new in ALIASES.items():
            if old in values:
                if new in values:
                    raise ParameterError(f"give {new} or its earlier name {old}, not both")
                values[new] = values.pop(old)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ParameterError(f"unknown drift setting(s) {unknown}: known are {sorted(known)}")
        return cls(**values)

    @property
    def ks_threshold(self) -> float:
        """The earlier name of ``min_effect``."""
        return self.min_effect

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return asdict(self)
