"""Challenger vs champion on the same held-out rows: promote, reject or first-model, with reasons.

The primary metric must improve by more than `min_improvement`. By default that is tested:
H0 is "the improvement is at most `min_improvement`", one-sided at `alpha` (exact McNemar for
accuracy, paired bootstrap otherwise), and the interval in the report is the one the test uses:
its lower end is the one-sided 1 - alpha bound, above `min_improvement` exactly when the test
rejects H0 (the whole interval covers 1 - 2*alpha). A primary metric that is not finite (NaN:
e.g. ROC AUC on rows of one class) never promotes. Guardrail metrics may not get worse by more
than their tolerance.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from kfp_ct.core import metrics
from kfp_ct.core.paired import PairedTest, bootstrap_test, mcnemar_test, paired_bootstrap, rows_of
from kfp_ct.core.tasks import REGRESSION
from kfp_ct.errors import ParameterError
from kfp_ct.params import json_object

PROMOTE, REJECT, FIRST_MODEL = "promote", "reject", "first-model"


@dataclass
class ComparePolicy:
    """How a challenger must beat the champion."""

    primary_metric: str = "auto"
    min_improvement: float = 0.0
    guardrails: dict[str, float] = field(default_factory=dict)  # metric -> allowed regression
    require_significance: bool = True
    alpha: float = 0.05
    n_bootstrap: int = 1000
    min_first_model: float | None = None  # a first model must reach this primary value
    seed: int = 0

    def resolve(self, task: str) -> ComparePolicy:
        """Fill `auto` values for `task` and check names and ranges."""
        primary = (
            metrics.default_primary(task) if self.primary_metric in ("", "auto") else self.primary_metric
        )
        metrics.check_metric(primary, task)
        guardrails = dict(self.guardrails)
        if not guardrails and task != REGRESSION and primary != "accuracy":
            guardrails = {"accuracy": 0.01}
        for name, tolerance in guardrails.items():
            metrics.check_metric(name, task)
            if not isinstance(tolerance, int | float) or tolerance < 0:
                raise ParameterError(
                    f"guardrail '{name}': tolerance must be a number >= 0, got {tolerance!r}"
                )
        if not 0.0 < self.alpha < 0.5:
            raise ParameterError(f"alpha must be within (0, 0.5), got {self.alpha}")
        if self.min_improvement < 0:
            raise ParameterError(f"min_improvement must be >= 0, got {self.min_improvement}")
        if self.n_bootstrap < 100:
            raise ParameterError(f"n_bootstrap must be >= 100, got {self.n_bootstrap}")
        return ComparePolicy(**{**asdict(self), "primary_metric": primary, "guardrails": guardrails})

    @staticmethod
    def parse_guardrails(text: str) -> dict[str, float]:
        """Parse a JSON object metric -> tolerance."""
        return json_object(text, "guardrails (metric -> tolerance)")


@dataclass
class Decision:
    """The outcome of a comparison."""

    decision: str
    reasons: list[str]
    primary_metric: str
    challenger: dict[str, float]
    champion: dict[str, float] | None
    champion_version: str | None
    test: PairedTest | None
    rows: int

    @property
    def deploys(self) -> bool:
        """Whether the challenger goes on to register and deploy."""
        return self.decision in (PROMOTE, FIRST_MODEL)

    def to_dict(self) -> dict:
        """JSON-safe dict."""
        return asdict(self)

    def to_markdown(self) -> str:
        """A report for the Kubeflow UI and MLflow."""
        lines = [f"# Decision: **{self.decision}**", "", *[f"- {r}" for r in self.reasons], ""]
        lines += ["| metric | challenger | champion |", "|---|---|---|"]
        for name, value in self.challenger.items():
            champ = "" if not self.champion else f"{self.champion.get(name, float('nan')):.4f}"
            lines.append(f"| {name} | {value:.4f} | {champ} |")
        if self.test:
            t = self.test
            lines += [
                "",
                f"Paired test ({t.method}) on {self.rows} rows of H0 'improvement <= {t.margin:g}': "
                f"delta {t.delta:+.4f}, {t.confidence:.0%} CI [{t.ci_low:+.4f}, {t.ci_high:+.4f}] "
                f"(its lower end is the one-sided bound the test uses), p = {t.p_value:.4g}",
            ]
        return "\n".join(lines)


def paired_test(
    name: str, task: str, chal: metrics.Scored, champ: metrics.Scored, policy: ComparePolicy
) -> PairedTest:
    """Test H0: improvement of metric `name` <= `policy.min_improvement`, on the same rows."""
    sign = 1.0 if metrics.higher_is_better(name) else -1.0
    delta = sign * (metrics.compute(name, task, chal) - metrics.compute(name, task, champ))
    alpha, margin, n = policy.alpha, policy.min_improvement, len(chal.y_true)
    if name == "accuracy":
        low, high, p = mcnemar_test(chal.y_true == chal.y_pred, champ.y_true == champ.y_pred, alpha, margin)
        return PairedTest("McNemar exact", delta, low, high, p, margin, 1 - 2 * alpha)

    def values(counts):
        a = metrics.resampled(name, task, chal, counts)
        b = metrics.resampled(name, task, champ, counts)
        if a is None or b is None:
            idx = [rows_of(row) for row in counts]
            a = np.array([metrics.compute(name, task, chal, i) for i in idx])
            b = np.array([metrics.compute(name, task, champ, i) for i in idx])
        return a, b

    deltas = paired_bootstrap(values, n, policy.n_bootstrap, policy.seed, sign)
    low, high, p = bootstrap_test(deltas, alpha, margin)
    return PairedTest("paired bootstrap", delta, low, high, p, margin, 1 - 2 * alpha)


def _not_finite(values: dict[str, float], name: str) -> bool:
    return not np.isfinite(values.get(name, float("nan")))


def decide(
    task: str,
    challenger: metrics.Scored,
    champion: metrics.Scored | None,
    policy: ComparePolicy,
    champion_version: str | None = None,
    champion_error: str | None = None,
) -> Decision:
    """Decide promote / reject / first-model for the challenger."""
    policy = policy.resolve(task)
    primary = policy.primary_metric
    chal_metrics = metrics.compute_all(task, challenger)
    rows = len(challenger.y_true)
    if champion_error:
        reason = f"the champion (v{champion_version}) could not score the held-out rows: {champion_error}"
        return Decision(REJECT, [reason], primary, chal_metrics, None, champion_version, None, rows)
    if champion is None:
        value = chal_metrics[primary]
        if _not_finite(chal_metrics, primary):
            return Decision(
                REJECT, [_not_finite_reason(primary, value, None, rows)], primary, chal_metrics, None,
                None, None, rows,
            )  # fmt: skip
        floor = policy.min_first_model
        ok = floor is None or (value >= floor if metrics.higher_is_better(primary) else value <= floor)
        reason = f"no champion yet; {primary} = {value:.4f}" + (
            "" if floor is None else f" ({'meets' if ok else 'misses'} the first-model bar {floor})"
        )
        return Decision(
            FIRST_MODEL if ok else REJECT, [reason], primary, chal_metrics, None, None, None, rows
        )
    champ_metrics = metrics.compute_all(task, champion)
    if _not_finite(chal_metrics, primary) or _not_finite(champ_metrics, primary):
        reason = _not_finite_reason(primary, chal_metrics[primary], champ_metrics[primary], rows)
        return Decision(REJECT, [reason], primary, chal_metrics, champ_metrics, champion_version, None, rows)
    test = paired_test(primary, task, challenger, champion, policy)
    reasons, ok = [], True
    margin = policy.min_improvement
    if not test.delta > margin:
        ok = False
        reasons.append(
            f"{primary} changed by {test.delta:+.4f} (champion {champ_metrics[primary]:.4f}); "
            f"needs an improvement of more than {margin:g}"
        )
    else:
        reasons.append(f"{primary} improved by {test.delta:+.4f} (> {margin:g})")
    significant = test.p_value < policy.alpha
    if policy.require_significance:
        verdict = "significant" if significant else "not significant"
        side = "above" if test.ci_low > margin else "not above"
        reasons.append(
            f"{test.method}: p = {test.p_value:.4g} for H0 'improvement <= {margin:g}' ({verdict} at "
            f"alpha {policy.alpha:g}); {test.confidence:.0%} CI [{test.ci_low:+.4f}, "
            f"{test.ci_high:+.4f}], lower bound {side} {margin:g}"
        )
        ok = ok and significant
    for name, tolerance in policy.guardrails.items():
        sign = 1.0 if metrics.higher_is_better(name) else -1.0
        change = sign * (chal_metrics[name] - champ_metrics[name])
        if not np.isfinite(change):
            ok = False
            reasons.append(
                f"guardrail {name} is not finite (challenger {chal_metrics[name]:.4g}, champion "
                f"{champ_metrics[name]:.4g}): it cannot show that {name} held"
            )
        elif change < -tolerance:
            ok = False
            reasons.append(f"guardrail {name} regressed by {-change:.4f} (tolerance {tolerance:g})")
        else:
            reasons.append(f"guardrail {name} held ({change:+.4f}, tolerance {tolerance:g})")
    return Decision(
        PROMOTE if ok else REJECT,
        reasons,
        primary,
        chal_metrics,
        champ_metrics,
        champion_version,
        test,
        rows,
    )


def _not_finite_reason(name: str, challenger: float, champion: float | None, rows: int) -> str:
    """Why a non-finite primary metric blocks the decision."""
    values = f"challenger {challenger:.4g}" + ("" if champion is None else f", champion {champion:.4g}")
    hint = " (ROC AUC needs rows of at least two classes)" if name == "roc_auc" else ""
    return (
        f"{name} is not finite on the {rows} held-out rows ({values}){hint}: a model is never "
        "promoted on a value that cannot be compared"
    )
