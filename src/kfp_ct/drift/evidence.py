"""One-sided tests of "the change is immaterial", their confidence bounds, and Holm's procedure.

Each check of the drift decision estimates an effect (a distance between the reference and the
window, a growth of the missing share, a loss of a champion metric) and tests H0: effect <=
threshold. The estimate's sampling error has a known or drawn distribution (`ErrorModel`); the
p-value is the chance that the error alone reaches `estimate - threshold`, and the lower
confidence bound at level `a` is `estimate - (the error's 1 - a quantile)`, so that p <= a exactly
when the bound is above the threshold.

For distances (KS, total variation, Wasserstein), which obey the triangle inequality, the
estimate exceeds the true distance by at most the distance between the two samples' errors,
whose law under "no change" is the test's null distribution: that is the error model used.

`holm` runs Holm's step-down procedure over every check of a decision, so that the chance of any
false alarm (a check flagged while every effect is at or below its threshold) is at most alpha.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy import stats as sps


class ErrorModel(Protocol):
    """The law of an estimate's sampling error (estimate - true value), or a bound on it."""

    def sf(self, x: float) -> float:
        """P(error >= x)."""

    def isf(self, level: float) -> float:
        """The smallest x with P(error >= x) <= level."""


@dataclass(frozen=True)
class KolmogorovError:
    """KS statistic: the error is at most a two-sample Kolmogorov variable (`rows` = n1 n2 / (n1 + n2))."""

    rows: int

    def sf(self, x: float) -> float:
        """P(error >= x)."""
        if x <= 0 or self.rows < 1:
            return 1.0
        return float(np.clip(sps.kstwo.sf(x, self.rows), 0.0, 1.0))

    def isf(self, level: float) -> float:
        """The 1 - level quantile."""
        return math.inf if self.rows < 1 else float(sps.kstwo.isf(level, self.rows))


@dataclass(frozen=True)
class DrawnError:
    """The error's law from null draws (permutations); p-values count the observed case too."""

    draws: np.ndarray  # any order

    def __post_init__(self) -> None:
        object.__setattr__(self, "draws", np.sort(np.asarray(self.draws, dtype=np.float64))[::-1])

    def sf(self, x: float) -> float:
        """(1 + #{draws >= x}) / (draws + 1)."""
        hits = int(np.searchsorted(-self.draws, -x, side="right"))  # draws are descending
        return (1 + hits) / (len(self.draws) + 1)

    def isf(self, level: float) -> float:
        """The draw above which sf <= level holds (inf when the draws are too few for `level`)."""
        k = math.floor(level * (len(self.draws) + 1) - 1)
        return math.inf if k < 0 else float(self.draws[min(k, len(self.draws) - 1)])


@dataclass(frozen=True)
class NormalError:
    """A normal error with standard deviation `se` (0: the estimate is exact)."""

    se: float

    def sf(self, x: float) -> float:
        """P(error >= x)."""
        if not self.se > 0:
            return 1.0 if x <= 0 else 0.0
        return float(sps.norm.sf(x / self.se))

    def isf(self, level: float) -> float:
        """The 1 - level quantile."""
        return float(self.se * sps.norm.isf(level)) if self.se > 0 else 0.0


@dataclass(frozen=True)
class Check:
    """One test of H0: the effect estimated by `estimate` is at most `threshold`."""

    name: str
    estimate: float
    threshold: float
    error: ErrorModel

    @property
    def p_value(self) -> float:
        """One-sided p-value of H0: effect <= threshold."""
        return self.error.sf(self.estimate - self.threshold)

    @property
    def p_change(self) -> float:
        """p-value of H0: no effect at all (threshold 0)."""
        return self.error.sf(self.estimate)

    def lower(self, level: float) -> float:
        """Lower confidence bound of the effect at one-sided level `level`."""
        return self.estimate - self.error.isf(level)


def combined_p(checks: list[Check]) -> float:
    """Bonferroni within one feature: the smallest p-value times the number of checks."""
    return min(1.0, len(checks) * min(c.p_value for c in checks)) if checks else 1.0


@dataclass(frozen=True)
class HolmResult:
    """Holm's procedure over a family: adjusted p-values, decisions and each member's level."""

    adjusted: list[float]
    rejected: list[bool]
    levels: list[float]  # the level each member was judged at (its step's alpha / (m - rank))


def holm(p_values: list[float], alpha: float) -> HolmResult:
    """Holm's step-down procedure: the family-wise error rate is at most `alpha`.

    Sorted p_(1) <= ... <= p_(m) are compared with alpha / m, alpha / (m - 1), ...; every
    hypothesis up to the first that fails is rejected. A rejected member's level is the one its
    step used; the others' level is the step where the procedure stopped.
    """
    m = len(p_values)
    order = np.argsort(np.asarray(p_values, dtype=np.float64), kind="stable")
    adjusted, rejected, levels = [1.0] * m, [False] * m, [alpha / max(m, 1)] * m
    running, stopped = 0.0, False
    stop_level = alpha / max(m, 1)
    for rank, i in enumerate(order):
        step = alpha / (m - rank)
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
        if not stopped and p_values[i] <= step:
            rejected[i], levels[i] = True, step
        else:
            if not stopped:
                stopped, stop_level = True, step
            levels[i] = stop_level
    return HolmResult(adjusted, rejected, levels)
