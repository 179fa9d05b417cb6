"""Judging a canary or a shadow on live signals: pure functions over captured rows.

The bake driver (`kfp_ct.deploy.bake`) reads the capture store; everything here takes the rows
(`kfp_ct.capture.store` columns) and the labels sent for them and returns plain values, so each
threshold can be tested on a hand-made frame. One version's signals are its requests, success
rate, latency p50/p99 and, on rows labelled in time, a metric (`kfp_ct.core.metrics`: accuracy
for a classifier, rmse for a regressor). Between two versions: the PSI of their prediction
distributions (`kfp_ct.drift.stats.psi`) and, for a shadow, how often they agree on the same
request.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from kfp_ct.capture import store
from kfp_ct.capture.signals import request_stats
from kfp_ct.core import metrics as core_metrics
from kfp_ct.deploy.base import RolloutPlan
from kfp_ct.drift.stats import category_counts, psi

PROMOTE, ROLLBACK, EXTEND = "promote", "rollback", "extend"
PSI_BINS = 10
REGRESSION_RTOL = 1e-2  # two regression predictions agree within 1 %


@dataclass
class VersionSignals:
    """One version's live signals over a bake."""

    version: str
    requests: int
    success_rate: float | None
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    labelled_rows: int = 0
    metric: str | None = None
    metric_value: float | None = None


@dataclass
class Verdict:
    """What the bake decided, why, and the signals it decided on."""

    action: str  # promote, rollback or extend
    reasons: list[str]
    champion: VersionSignals
    candidate: VersionSignals
    prediction_shift: float | None = None
    agreement: float | None = None  # shadow: share of requests both versions answered alike
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def promote(self) -> bool:
        """Whether the candidate takes all traffic."""
        return self.action == PROMOTE

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    def tags(self, prefix: str = "kfp_ct.rollout") -> dict[str, str]:
        """The verdict as version tags (MLflow tag values are strings)."""
        c = self.candidate
        tags = {
            f"{prefix}.verdict": self.action,
            f"{prefix}.reasons": " | ".join(self.reasons)[:4000],
            f"{prefix}.requests": str(c.requests),
            f"{prefix}.success_rate": _text(c.success_rate),
            f"{prefix}.latency_p99_ms": _text(c.latency_p99_ms),
            f"{prefix}.prediction_shift": _text(self.prediction_shift),
        }
        if c.metric is not None:
            tags[f"{prefix}.live_{c.metric}"] = _text(c.metric_value)
        if self.agreement is not None:
            tags[f"{prefix}.agreement"] = _text(self.agreement)
        return tags


def _text(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def is_classifier(rows: pd.DataFrame) -> bool:
    """Whether the rows are a classifier's answers (they carry class probabilities)."""
    return store.PROBABILITIES in rows and bool(rows[store.PROBABILITIES].notna().any())


def labelled_metric(rows: pd.DataFrame, labels: pd.DataFrame) -> tuple[str, float | None, int]:
    """(metric, value on the answered rows that have a label, labelled rows) of one version."""
    classifier = is_classifier(rows)
    name = "accuracy" if classifier else "rmse"
    answered = rows[rows[store.STATUS] == 200]
    if answered.empty or labels.empty:
        return name, None, 0
    known = labels.drop_duplicates(store.REQUEST_ID)[[store.REQUEST_ID, store.LABEL]]
    joined = answered.merge(known, on=store.REQUEST_ID, how="inner")
    joined = joined[joined[store.LABEL].notna() & joined[store.PREDICTION].notna()]
    if joined.empty:
        return name, None, 0
    if classifier:
        y, p, task = joined[store.LABEL].astype(str), joined[store.PREDICTION].astype(str), "multiclass"
    else:
        y, p, task = joined[store.LABEL].astype(float), joined[store.PREDICTION].astype(float), "regression"
    scored = core_metrics.Scored(y.to_numpy(), p.to_numpy(), None, None)
    return name, round(core_metrics.compute(name, task, scored), 6), len(joined)


def version_signals(rows: pd.DataFrame, version: str, labels: pd.DataFrame) -> VersionSignals:
    """The signals of one version's captured rows (its answers, or its shadow copies)."""
    if rows.empty:
        return VersionSignals(str(version), 0, None, None, None)
    stats = request_stats(rows)
    metric, value, labelled = labelled_metric(rows, labels)
    return VersionSignals(
        str(version),
        stats["count"],
        round(1.0 - stats["error_rate"], 6),
        stats["latency_p50_ms"],
        stats["latency_p99_ms"],
        labelled,
        metric,
        value,
    )


def prediction_shift(reference: pd.DataFrame, current: pd.DataFrame, bins: int = PSI_BINS) -> float | None:
    """PSI of `current`'s predictions against `reference`'s (classes, or reference deciles)."""
    ref = reference.loc[reference[store.STATUS] == 200, store.PREDICTION].dropna()
    cur = current.loc[current[store.STATUS] == 200, store.PREDICTION].dropna()
    if ref.empty or cur.empty:
        return None
    if is_classifier(reference):
        _, ref_counts, cur_counts = category_counts(ref.astype(str), cur.astype(str))
    else:
        ref_v, cur_v = ref.to_numpy(dtype=float), cur.to_numpy(dtype=float)
        edges = np.unique(np.quantile(ref_v, np.linspace(0, 1, bins + 1))[1:-1])
        ref_counts = np.bincount(np.searchsorted(edges, ref_v), minlength=len(edges) + 1).astype(float)
        cur_counts = np.bincount(np.searchsorted(edges, cur_v), minlength=len(edges) + 1).astype(float)
    return round(psi(ref_counts, cur_counts), 6)


def metric_breach(
    champion: VersionSignals, candidate: VersionSignals, max_drop: float, min_rows: int
) -> str | None:
    """Why the candidate's labelled metric is more than `max_drop` (relative) under the champion's.

    None when it is not, or when either side has fewer than `min_rows` labelled rows.
    """
    if champion.metric_value is None or candidate.metric_value is None or candidate.metric is None:
        return None
    if min(champion.labelled_rows, candidate.labelled_rows) < min_rows:
        return None
    base, value = champion.metric_value, candidate.metric_value
    sign = 1.0 if core_metrics.higher_is_better(candidate.metric) else -1.0
    if sign * (value - base) >= -max_drop * abs(base):
        return None
    by = f"more than {max_drop:.0%} worse" if max_drop else "worse"
    return (
        f"live {candidate.metric} {value:.4g} on {candidate.labelled_rows} labelled rows is {by} "
        f"than the champion's {base:.4g}"
    )


def judge_canary(
    champion: VersionSignals,
    candidate: VersionSignals,
    shift: float | None,
    plan: RolloutPlan,
    extensions_left: int = 0,
) -> Verdict:
    """Promote when every threshold holds; roll back naming each one that broke.

    Success rate breaks when it is under `min_success_rate` and under the champion's on the same
    period (traffic the champion also refuses is the clients' fault, not the canary's).
    Fewer than `min_canary_requests` requests: `plan.on_insufficient` (extend while
    `extensions_left`, then roll back), said in the reasons.
    """

    def verdict(action: str, reasons: list[str]) -> Verdict:
        return Verdict(action, reasons, champion, candidate, shift)

    if candidate.requests < plan.min_canary_requests:
        why = f"the canary answered {candidate.requests} requests, fewer than {plan.min_canary_requests}"
        action = plan.on_insufficient
        if action == EXTEND and extensions_left <= 0:
            return verdict(ROLLBACK, [f"{why}, after {plan.max_extensions} extensions: rolled back"])
        return verdict(action, [f"{why}: {action} (on_insufficient)"])
    reasons = []
    ok_rate = candidate.success_rate if candidate.success_rate is not None else 0.0
    champion_rate = champion.success_rate if champion.success_rate is not None else 1.0
    if ok_rate == 0.0:
        reasons.append(f"none of its {candidate.requests} requests succeeded")
    elif ok_rate < plan.min_success_rate and ok_rate < champion_rate:
        reasons.append(
            f"success rate {ok_rate:.2%} under {plan.min_success_rate:.2%} "
            f"(champion {champion_rate:.2%} on the same period)"
        )
    if candidate.latency_p99_ms is not None and candidate.latency_p99_ms > plan.max_latency_p99_ms:
        reasons.append(f"latency p99 {candidate.latency_p99_ms:.1f} ms over {plan.max_latency_p99_ms:g} ms")
    if shift is not None and shift > plan.max_prediction_shift:
        reasons.append(
            f"prediction shift (PSI) {shift:.3f} against the champion over {plan.max_prediction_shift:g}"
        )
    breach = metric_breach(champion, candidate, plan.max_metric_drop, plan.min_labelled_rows)
    if breach:
        reasons.append(breach)
    if reasons:
        return verdict(ROLLBACK, reasons)
    held = [
        f"{candidate.requests} requests",
        f"success rate {ok_rate:.2%}",
        f"p99 {candidate.latency_p99_ms} ms",
        f"PSI {shift}",
    ]
    if candidate.metric_value is not None:
        held.append(f"live {candidate.metric} {candidate.metric_value} (champion {champion.metric_value})")
    return verdict(PROMOTE, [f"every threshold held: {', '.join(held)}"])


def agreement(answers: pd.DataFrame, copies: pd.DataFrame) -> tuple[float | None, int]:
    """(share of requests where the shadow's prediction equals the answer's, requests compared)."""
    keys = [store.REQUEST_ID, store.ROW]
    a = answers.loc[answers[store.STATUS] == 200, [*keys, store.PREDICTION]]
    b = copies.loc[copies[store.STATUS] == 200, [*keys, store.PREDICTION]]
    both = a.merge(b, on=keys, suffixes=("", "_shadow"))
    if both.empty:
        return None, 0
    x, y = both[store.PREDICTION], both[f"{store.PREDICTION}_shadow"]
    if is_classifier(answers):
        same = x.astype(str).to_numpy() == y.astype(str).to_numpy()
    else:
        same = np.isclose(x.astype(float), y.astype(float), rtol=REGRESSION_RTOL)
    per_request = pd.Series(same).groupby(both[store.REQUEST_ID].to_numpy()).all()
    return round(float(per_request.mean()), 6), len(per_request)


def judge_shadow(
    champion: VersionSignals, shadow: VersionSignals, agreed: float | None, compared: int, plan: RolloutPlan
) -> Verdict:
    """The shadow evidence rule: enough requests, little disagreement, labelled metric not worse."""
    reasons = []
    if compared < plan.min_shadow_requests:
        reasons.append(f"{compared} requests seen by both versions, fewer than {plan.min_shadow_requests}")
    if agreed is not None and 1.0 - agreed > plan.max_disagreement:
        reasons.append(f"disagreement {1.0 - agreed:.2%} over {plan.max_disagreement:.2%}")
    if shadow.success_rate is not None and shadow.success_rate < plan.min_success_rate:
        reasons.append(f"shadow success rate {shadow.success_rate:.2%} under {plan.min_success_rate:.2%}")
    breach = metric_breach(champion, shadow, 0.0, plan.min_labelled_rows)
    if breach:
        reasons.append(breach)
    if reasons:
        return Verdict(ROLLBACK, reasons, champion, shadow, agreement=agreed)
    held = f"{compared} requests, agreement {agreed:.2%}" if agreed is not None else f"{compared} requests"
    if shadow.metric_value is not None:
        held += f", live {shadow.metric} {shadow.metric_value} (champion {champion.metric_value})"
    return Verdict(PROMOTE, [f"shadow evidence holds: {held}"], champion, shadow, agreement=agreed)
