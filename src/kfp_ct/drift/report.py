"""The drift decision: per-feature tests, prediction drift, performance decay -> retrain/skip.

Every check of one decision (each feature, the champion's predictions, each recorded metric) is a
test of H0 "the change is at most its threshold"; Holm's procedure over all of them keeps the
chance of any false alarm at or below ``config.alpha``, whatever the number of features.
"""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd

from kfp_ct.core import metrics as core_metrics
from kfp_ct.drift.config import DriftConfig
from kfp_ct.drift.evidence import holm
from kfp_ct.drift.features import FeatureDrift, FeatureEvidence, Kind, feature_evidence, infer_kind
from kfp_ct.drift.performance import MetricEvidence, PerformanceDecay, decay_evidence, task_of
from kfp_ct.drift.policy import GuardResult
from kfp_ct.errors import DataError

Decision = Literal["retrain", "skip"]


class Champion(Protocol):
    """Anything with ``predict(frame)``; ``predict_proba(frame)`` is used when present."""

    def predict(self, frame: pd.DataFrame) -> Any:
        """Return one prediction per row."""


@dataclass(frozen=True)
class DriftReport:
    """Everything the drift step found, and the decision it took.

    Attributes:
        decision: ``retrain`` or ``skip``.
        reasons: human-readable lines, one per check (data, prediction, performance, guards).
        features: per-feature results, in column order.
        share_drifted: drifted features / tested features.
        drifted_features: names of the drifted features.
        dataset_drift: whether ``share_drifted`` reached the configured ``drift_share``.
        prediction: drift of the champion's outputs (reference vs window), or None.
        performance: champion metrics on the labelled window vs recorded, or None.
        guards: cooldown / de-duplication outcome once applied with ``with_guards``.
    """

    decision: Decision
    reasons: list[str]
    features: list[FeatureDrift]
    share_drifted: float
    drifted_features: list[str]
    dataset_drift: bool
    n_reference: int
    n_current: int
    prediction: FeatureDrift | None = None
    performance: PerformanceDecay | None = None
    guards: GuardResult | None = None
    skipped_columns: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def retrain(self) -> bool:
        """Whether the decision is ``retrain``."""
        return self.decision == "retrain"

    def with_guards(self, guards: GuardResult) -> DriftReport:
        """Return a copy with the guards applied: a blocking guard turns ``retrain`` into skip."""
        reasons = list(self.reasons)
        decision: Decision = self.decision
        if guards.skip and decision == "retrain":
            decision = "skip"
            reasons.append("retrain blocked by guard(s): " + "; ".join(guards.reasons))
        else:
            reasons.extend(f"guard: {r}" for r in guards.reasons)
        return replace(self, decision=decision, reasons=reasons, guards=guards)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict of the whole report."""
        return {
            "decision": self.decision,
            "reasons": list(self.reasons),
            "share_drifted": self.share_drifted,
            "n_features": len(self.features),
            "drifted_features": list(self.drifted_features),
            "dataset_drift": self.dataset_drift,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "features": [f.to_dict() for f in self.features],
            "prediction": self.prediction.to_dict() if self.prediction else None,
            "performance": self.performance.to_dict() if self.performance else None,
            "guards": self.guards.to_dict() if self.guards else None,
            "skipped_columns": list(self.skipped_columns),
            "config": dict(self.config),
            "seconds": self.seconds,
        }

    def to_json(self, indent: int | None = 2) -> str:
        """Return the report as JSON text."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def metrics(self) -> dict[str, float]:
        """Return flat numeric metrics for MLflow / KFP ``Metrics`` (names are MLflow-safe)."""
        out: dict[str, float] = {
            "drift_share": float(self.share_drifted),
            "drift_n_drifted": float(len(self.drifted_features)),
            "drift_n_features": float(len(self.features)),
            "drift_retrain": 1.0 if self.retrain else 0.0,
        }
        for f in self.features:
            if np.isfinite(f.effect_size):
                out[f"drift_{f.effect}.{_metric_key(f.feature)}"] = float(f.effect_size)
        if self.prediction is not None:
            out[f"prediction_drift_{self.prediction.effect}"] = float(self.prediction.effect_size)
        if self.performance is not None:
            for m in self.performance.metrics:
                out[f"window_{_metric_key(m.name)}"] = m.current
        return out

    def to_markdown(self) -> str:
        """Return a short Markdown summary (decision, reasons, per-feature table)."""
        lines = [f"**Decision: {self.decision}**", ""]
        lines += [f"- {r}" for r in self.reasons]
        lines += [
            "",
            "| feature | kind | test | effect | lower bound | threshold | p (no change) "
            "| adjusted p | drifted |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for f in self.features:
            p = "" if f.p_value is None else f"{f.p_value:.2g}"
            lines.append(
                f"| {f.feature} | {f.kind} | {f.test} | {f.effect}={f.effect_size:.3f} | "
                f"{f.effect_low:.3f} | {f.threshold:g} | {p} | {f.p_adjusted:.2g} | "
                f"{'yes' if f.drifted else 'no'} |"
            )
        return "\n".join(lines) + "\n"

    def to_html(self) -> str:
        """Return a small self-contained HTML summary (a few kB) for a KFP ``HTML`` output."""
        rows = "".join(
            "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{:.3f}</td><td>{}</td><td>{}</td></tr>".format(
                ' style="background:#fde2e2"' if f.drifted else "",
                html.escape(f.feature),
                f.kind,
                f.test,
                f.effect_size,
                "" if f.p_value is None else f"{f.p_value:.2g}",
                html.escape(f.reason),
            )
            for f in self.features
        )
        reasons = "".join(f"<li>{html.escape(r)}</li>" for r in self.reasons)
        return (
            "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Drift decision</title>"
            "<style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:left}</style>"
            f"</head><body><h2>Decision: {self.decision}</h2><ul>{reasons}</ul>"
            "<table><tr><th>feature</th><th>kind</th><th>test</th><th>effect</th>"
            f"<th>p-value</th><th>why</th></tr>{rows}</table></body></html>"
        )


def _metric_key(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-/ ]", "_", str(name))


def _select_features(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: Sequence[str] | None,
    categorical: Sequence[str],
    label: str | None,
) -> tuple[list[tuple[str, Kind]], list[str]]:
    names = list(features) if features is not None else [c for c in reference.columns if c != label]
    for frame, what in ((reference, "reference data"), (current, "current window")):
        missing = [c for c in names if c not in frame.columns]
        if missing:
            raise DataError(f"the {what} lacks feature column(s) {missing}")
    unknown = [c for c in categorical if c not in names]
    if unknown:
        raise DataError(f"categorical column(s) {unknown} are not among the features")
    chosen: list[tuple[str, Kind]] = []
    skipped: list[str] = []
    for name in names:
        kind = "categorical" if name in categorical else infer_kind(reference[name])
        if kind is None:
            skipped.append(name)
        else:
            chosen.append((name, kind))
    return chosen, skipped


def _sample(frame: pd.DataFrame, n: int | None, seed: int) -> pd.DataFrame:
    return frame if n is None or len(frame) <= n else frame.sample(n=n, random_state=seed)


def _predict(champion: Champion, frame: pd.DataFrame, what: str) -> tuple[Any, Any]:
    try:
        pred = np.asarray(champion.predict(frame))
    except Exception as exc:
        raise DataError(f"the champion's predict() failed on the {what}: {exc}") from exc
    proba = None
    if hasattr(champion, "predict_proba"):
        try:
            proba = np.asarray(champion.predict_proba(frame), dtype=np.float64)
        except Exception:
            proba = None
    return pred, proba


def _prediction_series(pred: np.ndarray, proba: np.ndarray | None) -> tuple[pd.Series, Kind, str]:
    if proba is not None and proba.ndim == 2 and proba.shape[1] == 2:
        return pd.Series(proba[:, 1]), "numeric", "prediction_proba"
    series = pd.Series(pred.ravel() if pred.ndim > 1 and pred.shape[1] == 1 else list(pred))
    if pd.api.types.is_float_dtype(series) and not np.all(np.mod(series.dropna(), 1) == 0):
        return series, "numeric", "prediction"
    return series.astype(str), "categorical", "prediction"


def detect_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    features: Sequence[str] | None = None,
    categorical: Sequence[str] = (),
    label: str | None = None,
    champion: Champion | None = None,
    champion_metrics: Mapping[str, float] | None = None,
    config: DriftConfig | None = None,
    prediction_reference: pd.DataFrame | None = None,
) -> DriftReport:
    """Decide whether to retrain from data drift, prediction drift and performance decay.

    Args:
        reference: data the champion was trained on.
        current: the new data window.
        features: columns to test; default: every reference column but ``label`` (datetime
            columns are skipped and listed in ``skipped_columns``).
        categorical: columns to treat as categorical whatever their dtype (e.g. coded ints).
        label: label column; when present in ``current`` it drives the performance check.
        champion: current production model (``predict``, optionally ``predict_proba``).
        champion_metrics: the champion's recorded metrics, e.g. ``{"accuracy": 0.91,
            "n_rows": 600}`` (``n_rows``: the held-out rows behind them, not a metric).
        config: tests and thresholds; defaults to ``DriftConfig()``.
        prediction_reference: rows the champion did not train on, for its reference
            predictions (predictions on its own training rows are over-confident); default
            ``reference``.

    Returns:
        A DriftReport with decision ``retrain`` when data drift, prediction drift or
        performance decay is found, else ``skip``.

    Raises:
        DataError: empty frames, missing columns, or a champion that cannot predict.
    """
    started = time.perf_counter()
    config = config or DriftConfig()
    for frame, what in ((reference, "reference data"), (current, "current window")):
        if len(frame) == 0:
            raise DataError(f"the {what} has no rows")
    chosen, skipped = _select_features(reference, current, features, categorical, label)

    def run(item: tuple[str, Kind]) -> FeatureEvidence:
        name, kind = item
        return feature_evidence(name, reference[name], current[name], kind, config)

    if config.n_jobs > 1 and len(chosen) > 1:
        with ThreadPoolExecutor(max_workers=config.n_jobs) as pool:
            evidence = list(pool.map(run, chosen))
    else:
        evidence = [run(item) for item in chosen]

    notes: list[str] = []
    prediction_evidence, decay, perf_info = None, [], None
    if champion is not None:
        held_out = reference if prediction_reference is None else prediction_reference
        prediction_evidence, decay, perf_info = _champion_evidence(
            held_out, current, label, champion, champion_metrics, config, notes
        )
    family = [e.p_material for e in evidence]
    family += [] if prediction_evidence is None else [prediction_evidence.p_material]
    family += [m.check.p_value for m in decay]
    judged = holm(family, config.alpha)
    verdicts = list(zip(judged.levels, judged.adjusted, strict=True))
    results = [e.judge(level, p, config.alpha) for e, (level, p) in zip(evidence, verdicts, strict=False)]
    rest = verdicts[len(evidence) :]
    prediction = None
    if prediction_evidence is not None:
        prediction = prediction_evidence.judge(*rest[0], config.alpha)
        rest = rest[1:]
    performance = None
    if perf_info is not None:
        n_labelled, skipped_metrics, n_recorded = perf_info
        judged_metrics = [m.judge(level, p, config.alpha) for m, (level, p) in zip(decay, rest, strict=True)]
        performance = PerformanceDecay(
            config.performance_tolerance, n_labelled, judged_metrics, skipped_metrics, n_recorded
        )

    drifted = [f.feature for f in results if f.drifted]
    share = len(drifted) / len(results) if results else 0.0
    dataset_drift = bool(results) and share >= config.drift_share
    listed = (": " + ", ".join(drifted)) if drifted else ""
    if dataset_drift:
        reasons = [
            f"data drift: {len(drifted)}/{len(results)} features drifted ({share:.0%} >= "
            f"{config.drift_share:.0%}){listed}"
        ]
    else:
        reasons = [
            f"no data drift: {len(drifted)}/{len(results)} features drifted ({share:.0%} < "
            f"{config.drift_share:.0%}){listed}"
        ]
    reasons.append(_family_reason(len(results), prediction is not None, len(decay), config.alpha))
    if prediction is not None:
        verdict = "prediction drift" if prediction.drifted else "no prediction drift"
        reasons.append(
            f"{verdict}: champion's {prediction.feature} on reference vs window, {prediction.reason}"
        )
    if performance is not None:
        reasons.append(_performance_reason(performance))
    reasons += notes
    retrain = dataset_drift or bool(prediction and prediction.drifted)
    retrain = retrain or bool(performance and performance.decayed)
    return DriftReport(
        decision="retrain" if retrain else "skip",
        reasons=reasons,
        features=results,
        share_drifted=share,
        drifted_features=drifted,
        dataset_drift=dataset_drift,
        n_reference=len(reference),
        n_current=len(current),
        prediction=prediction,
        performance=performance,
        skipped_columns=skipped,
        config=config.to_dict(),
        seconds=round(time.perf_counter() - started, 4),
    )


def _family_reason(n_features: int, prediction: bool, n_metrics: int, alpha: float) -> str:
    parts = [f"{n_features} feature{'s' if n_features != 1 else ''}"]
    parts += ["the champion's predictions"] if prediction else []
    parts += [f"{n_metrics} recorded metric{'s' if n_metrics != 1 else ''}"] if n_metrics else []
    total = n_features + int(prediction) + n_metrics
    return (
        f"error control: Holm's procedure over {total} checks ({', '.join(parts)}) keeps the chance "
        f"of any false alarm at or below {alpha:.0%}; a change counts when its confidence bound "
        "clears its threshold"
    )


def _champion_evidence(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    label: str | None,
    champion: Champion,
    champion_metrics: Mapping[str, float] | None,
    config: DriftConfig,
    notes: list[str],
) -> tuple[FeatureEvidence, list[MetricEvidence], tuple[int, list[str], int | None] | None]:
    drop = [label] if label else []
    ref_x = _sample(reference, config.max_prediction_rows, config.seed)
    cur_rows = _sample(current, config.max_prediction_rows, config.seed)
    ref_pred, ref_proba = _predict(champion, ref_x.drop(columns=drop, errors="ignore"), "reference data")
    cur_pred, cur_proba = _predict(champion, cur_rows.drop(columns=drop, errors="ignore"), "current window")
    ref_series, kind, name = _prediction_series(ref_pred, ref_proba)
    cur_series, _, _ = _prediction_series(cur_pred, cur_proba)
    if kind == "categorical":
        cur_series = cur_series.astype(str)
    prediction = feature_evidence(name, ref_series, cur_series, kind, config)

    if not champion_metrics or not any(
        core_metrics.canonical(k) != core_metrics.ROWS for k in champion_metrics
    ):
        notes.append("performance not checked: no recorded champion metrics")
        return prediction, [], None
    if not label or label not in current.columns:
        notes.append("performance not checked: the window has no label column")
        return prediction, [], None
    labelled = cur_rows[label].notna().to_numpy()
    if not labelled.any():
        notes.append(f"performance not checked: label column {label!r} is empty")
        return prediction, [], None
    y_true = cur_rows[label].to_numpy()[labelled]
    proba = cur_proba[labelled] if cur_proba is not None else None
    classes = getattr(champion, "classes_", None)
    scored = core_metrics.Scored(
        y_true, np.asarray(cur_pred)[labelled], proba, None if classes is None else np.asarray(classes)
    )
    task = task_of(champion, y_true, proba)
    decay, skipped, n_recorded = decay_evidence(
        scored, task, champion_metrics, config.performance_tolerance, config.seed
    )
    return prediction, decay, (len(y_true), skipped, n_recorded)


def _performance_reason(perf: PerformanceDecay) -> str:
    parts = [
        f"{m.name} {m.current:.4g} vs recorded {m.recorded:.4g} ({m.relative_change:+.1%}; worse by "
        f"at least {m.worsening_low:+.1%} at the decision's confidence, adjusted p={m.p_adjusted:.2g})"
        for m in perf.metrics
    ]
    if perf.skipped:
        parts.append(f"not computable: {perf.skipped}")
    body = "; ".join(parts) or "no comparable metric"
    head = "performance decay" if perf.decayed else "no performance decay"
    rows = (
        f"recorded on {perf.n_recorded} rows"
        if perf.n_recorded
        else "rows behind the recorded values unknown: only the window's sampling error is counted"
    )
    return f"{head} on {perf.n_labelled} labelled rows (tolerance {perf.tolerance:.0%}, {rows}): {body}"
