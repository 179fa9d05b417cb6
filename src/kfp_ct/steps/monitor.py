"""Step `monitor`: watch the served model on its captured traffic; decide ok, alert or retrain.

Reads the traffic captured since the last monitoring run (its watermark is a tag of that MLflow
run, experiment `kfp-ct-monitoring`) up to `settle_s` ago (the server writes a record up to its
flush interval after the request, so the newest seconds wait for the next run), joins the labels
sent with `kfp-ct feedback`, and checks:
feature and prediction drift against the champion's training data and performance decay once
`min_labels` rows are labelled (the existing `kfp_ct.drift.detect_drift`, with the cooldown and
de-duplication guards of `kfp_ct.drift.check_guards`), data quality (null rates, unseen
categories, requests the server refused as malformed), the error rate and latency p50/p99.
The labelled window (inputs + label) is written for the retraining pipeline. Each run with
traffic is one MLflow run tagged with its window and decision, with a compact Evidently report.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from kfp_ct import lineage, settings
from kfp_ct.capture import store
from kfp_ct.capture.config import capture_uri
from kfp_ct.capture.signals import request_stats, traffic
from kfp_ct.core import metrics as core_metrics
from kfp_ct.core.tasks import infer_task
from kfp_ct.data.hashing import frame_hash
from kfp_ct.data.io import read_table
from kfp_ct.data.split import SPLIT_COLUMN
from kfp_ct.drift.config import DriftConfig
from kfp_ct.errors import ParameterError
from kfp_ct.params import json_object
from kfp_ct.steps.drift_check import DRIFT_EXPERIMENT, RETRAIN, primary_only, reference_with_holdout
from kfp_ct.tracking import history, models
from kfp_ct.tracking.monitoring import MONITOR_EXPERIMENT, WINDOW_SINCE, WINDOW_UNTIL, last_watermark

log = logging.getLogger(__name__)
OK, ALERT = "ok", "alert"


@dataclass(frozen=True, kw_only=True)
class MonitorParams:
    """Which model's traffic to monitor, since when, and the thresholds."""

    model_name: str = settings.DEFAULT_MODEL_NAME
    capture_uri: str = ""  # empty: KFP_CT_CAPTURE_URI, else $KFP_CT_HOME/capture
    since: str = ""  # ISO 8601; empty: the last monitoring run's watermark (else everything)
    label: str = "label"
    min_labels: int = 200
    drift_config: DriftConfig = field(default_factory=DriftConfig)
    cooldown_hours: float = 0.0
    max_error_rate: float = 0.05
    max_null_rate: float = 0.2
    settle_s: float = 10.0  # the window ends this long ago: records the writer still batches come next time
    primary_metric: str = "auto"
    test_size: float = 0.2
    seed: int = 42
    pipeline_run_id: str = ""

    @classmethod
    def from_kfp(cls, *, drift_config: str, **fields: Any) -> MonitorParams:
        """Build from the component's parameters (`drift_config` as JSON text)."""
        return cls(drift_config=DriftConfig.from_dict(json_object(drift_config, "drift_config")), **fields)


@dataclass(frozen=True, kw_only=True)
class MonitorPaths:
    """Files monitor writes: the labelled window (parquet), the Markdown and HTML reports."""

    window: Path
    report: Path
    drift_report: Path


@dataclass
class MonitorOutput:
    """What monitoring found and decided (the `--json` line of `kfp-ct monitor`)."""

    decision: str
    reasons: list[str]
    rows: int
    labelled_rows: int
    window: dict[str, str | None]
    drift: dict[str, Any] = field(default_factory=lambda: {"share": 0.0, "drifted_features": []})
    performance: dict[str, Any] = field(default_factory=dict)
    quality: dict[str, Any] = field(default_factory=dict)
    requests: dict[str, Any] = field(default_factory=dict)
    versions: list[str] = field(default_factory=list)
    window_hash: str = ""
    monitoring_run_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def parse_since(text: str) -> datetime:
    """An ISO 8601 moment (UTC when it names no zone); ParameterError naming it otherwise."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ParameterError(
            f"--since {text!r} is not an ISO 8601 time (e.g. 2026-12-01T08:00:00Z)"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def data_quality(window: pd.DataFrame, reference: pd.DataFrame, features: list[str]) -> dict[str, Any]:
    """Null rates of every feature and the share of rows on categories the reference never had."""
    nulls = {c: round(float(window[c].isna().mean()), 6) if c in window else 1.0 for c in features}
    unseen = {}
    for c in features:
        if c in window and (reference[c].dtype == object or str(reference[c].dtype) == "category"):
            known = set(reference[c].dropna().astype(str))
            values = window[c].dropna().astype(str)
            unseen[c] = round(float((~values.isin(known)).mean()), 6) if len(values) else 0.0
    return {"null_rates": nulls, "unseen_category_rates": unseen}


def live_performance(
    champion: Any, labelled: pd.DataFrame, features: list[str], label: str, metric: str
) -> float:
    """The champion's `metric` on the labelled rows (core.metrics)."""
    task = infer_task(labelled[label])
    scored = core_metrics.score(champion, labelled[features], labelled[label].to_numpy())
    return float(core_metrics.compute(metric, task, scored))


def run(params: MonitorParams, paths: MonitorPaths) -> MonitorOutput:
    """Monitor the window of captured traffic; write the labelled window and the reports."""
    from kfp_ct.drift import check_guards, detect_drift, gauges, render_evidently_html

    uri = params.capture_uri or capture_uri()
    since = parse_since(params.since) if params.since else last_watermark(params.model_name)
    until = datetime.now(UTC) - timedelta(seconds=params.settle_s)
    window_info = {"since": since.isoformat() if since else None, "until": until.isoformat()}
    frame = store.read_capture(uri, params.model_name, since, until)
    if not frame.empty:  # smoke tests are not production traffic; shadow copies were never answered
        frame = traffic(store.answered_rows(frame))
    if frame.empty:
        pd.DataFrame().to_parquet(paths.window)
        Path(paths.report).write_text("# Monitoring\n\nNo new traffic.\n")
        what = f"since {window_info['since']}" if since else "yet"
        return MonitorOutput(OK, [f"no new traffic for '{params.model_name}' {what}"], 0, 0, window_info)
    stats = request_stats(frame)
    answered = frame[frame[store.STATUS] == 200]
    champion_ref, champion = models.load_champion(params.model_name)
    if champion_ref is None or not champion_ref.tags.get(lineage.DATA_URI):
        reasons = [f"model '{params.model_name}' has no champion with training data to compare against"]
        out = MonitorOutput(ALERT, reasons, len(answered), 0, window_info, requests=stats)
        return _finish(params, paths, out, None, None)
    label = params.label
    reference, held_out = reference_with_holdout(
        read_table(champion_ref.tags[lineage.DATA_URI]), label, params.test_size, params.seed
    )
    features = [c for c in reference.columns if c not in (label, SPLIT_COLUMN)]
    live = answered.reindex(columns=[*features, store.REQUEST_ID, store.VERSION])
    labels = store.read_feedback(uri, params.model_name).drop_duplicates(store.REQUEST_ID)
    live = live.merge(labels[[store.REQUEST_ID, store.LABEL]].rename(columns={store.LABEL: label}),
                      on=store.REQUEST_ID, how="left")  # fmt: skip
    labelled = live[live[label].notna()]
    if len(labelled) and reference[label].dtype.kind in "iub":
        labelled = labelled.assign(**{label: labelled[label].astype(reference[label].dtype)})
    quality = data_quality(live, reference, features)
    recorded = primary_only(models.recorded_metrics(champion_ref), params.primary_metric, reference, label)
    metric = next((k for k in recorded if k != "n_rows"), None)
    performance: dict[str, Any] = {"metric": metric, "champion": recorded.get(metric) if metric else None,
                                   "live": None, "labelled_rows": len(labelled),
                                   "min_labels": params.min_labels}  # fmt: skip
    enough = len(labelled) >= params.min_labels
    kwargs = {"champion": champion, "config": params.drift_config, "prediction_reference": held_out}
    report = detect_drift(reference, live[features], features=features, **kwargs)
    reasons = [r for r in report.reasons if not r.startswith("performance not checked")]
    retrain = report.retrain
    if enough:
        decay = detect_drift(reference, labelled[[*features, label]], features=features, label=label,
                             champion_metrics=recorded, **kwargs)  # fmt: skip
        if metric:
            performance["live"] = round(live_performance(champion, labelled, features, label, metric), 6)
        reasons += [f"labelled rows: {r}" for r in decay.reasons if metric and metric in r]
        retrain = retrain or decay.retrain
    else:
        reasons.append(f"performance not checked: {len(labelled)} labelled rows, {params.min_labels} needed")
    window_frame = labelled[[*features, label]].reset_index(drop=True)
    window_frame.to_parquet(paths.window, index=False)
    gauges.export(params.model_name, reference, live, features, performance)  # Pushgateway, if set
    window_hash = frame_hash(read_table(str(paths.window))) if len(window_frame) else ""
    decision = RETRAIN if retrain else OK
    if decision == RETRAIN and not enough:
        decision = ALERT
        reasons.append("drift found, but too few labelled rows to retrain on: alert only")
    if decision == RETRAIN:
        earlier = history.earlier_trainings(params.model_name, DRIFT_EXPERIMENT, RETRAIN)
        guards = check_guards(earlier, window_hash, cooldown_hours=params.cooldown_hours)
        reasons += [f"guard: {r}" for r in guards.reasons]
        if guards.skip:
            decision = ALERT
    if stats["error_rate"] > params.max_error_rate:
        reasons.append(f"error rate {stats['error_rate']:.2%} above {params.max_error_rate:.2%}")
        decision = ALERT if decision == OK else decision
    high_nulls = [c for c, r in quality["null_rates"].items() if r > params.max_null_rate]
    if high_nulls:
        reasons.append(f"null rate above {params.max_null_rate:.0%} in {', '.join(high_nulls)}")
        decision = ALERT if decision == OK else decision
    out = MonitorOutput(
        decision, reasons, len(answered), len(labelled), window_info,
        drift={"share": round(report.share_drifted, 4), "drifted_features": report.drifted_features},
        performance=performance, quality=quality, requests=stats,
        versions=sorted(map(str, answered[store.VERSION].dropna().unique())), window_hash=window_hash,
    )  # fmt: skip
    columns = report.drifted_features + [f.feature for f in report.features if not f.drifted]
    render_evidently_html(reference, live[features], paths.drift_report, columns=columns, max_rows=2000,
                          seed=params.seed)  # fmt: skip
    return _finish(params, paths, out, champion_ref, report)


def _finish(
    params: MonitorParams, paths: MonitorPaths, out: MonitorOutput, champion_ref: Any, report: Any
) -> MonitorOutput:
    """Write the Markdown report and record the run in MLflow (tags carry the window)."""
    lines = [f"# Monitoring '{params.model_name}'", "", f"Decision: **{out.decision}**", ""]
    lines += [f"- {r}" for r in out.reasons]
    Path(paths.report).write_text("\n".join(lines) + "\n")
    if not Path(paths.drift_report).exists():
        Path(paths.drift_report).write_text("<html><body><p>No drift report.</p></body></html>")
    tags = {
        lineage.MODEL_NAME: params.model_name,
        lineage.DECISION: out.decision,
        lineage.DECISION_REASONS: " | ".join(out.reasons)[:4000],
        WINDOW_SINCE: out.window["since"] or "",
        WINDOW_UNTIL: out.window["until"] or "",
        lineage.WINDOW_HASH: out.window_hash,
        lineage.PIPELINE_RUN_ID: params.pipeline_run_id,
        "kfp_ct.monitor.champion_version": str(champion_ref.version) if champion_ref else "",
        "kfp_ct.monitor.served_versions": ",".join(out.versions),
    }
    metrics = {
        "rows": out.rows,
        "labelled_rows": out.labelled_rows,
        "drift_share": out.drift["share"],
        "error_rate": out.requests.get("error_rate", 0.0),
    }
    for key in ("latency_p50_ms", "latency_p99_ms"):
        if out.requests.get(key) is not None:
            metrics[key] = out.requests[key]
    if out.performance.get("live") is not None:
        metrics[f"live_{out.performance['metric']}"] = out.performance["live"]
    summary = out.to_dict()
    out.monitoring_run_id = history.record_drift_decision(
        MONITOR_EXPERIMENT, tags, metrics, summary, Path(paths.drift_report)
    )
    log.info("monitor decision: %s (%s)", out.decision, "; ".join(out.reasons))
    return out
