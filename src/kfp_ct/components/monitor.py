"""Component `monitor`: decide ok/alert/retrain on captured traffic; write the labelled window."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import HTML, Dataset, Markdown, Metrics, Output

from kfp_ct.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def monitor(
    model_name: str,
    capture_uri: str,
    since: str,
    label: str,
    min_labels: int,
    drift_config: str,
    cooldown_hours: float,
    max_error_rate: float,
    primary_metric: str,
    test_size: float,
    seed: int,
    pipeline_run_id: str,
    window: Output[Dataset],
    drift_report: Output[HTML],
    report: Output[Markdown],
    metrics: Output[Metrics],
) -> NamedTuple("MonitorOutputs", [("Output", str), ("window_uri", str), ("summary", str)]):
    """Monitor the traffic captured since the last monitoring run.

    Args:
        model_name: Served (registered) model whose traffic is monitored.
        capture_uri: Capture store (local directory or s3://); empty: KFP_CT_CAPTURE_URI.
        since: ISO 8601 start; empty: the last monitoring run's watermark.
        label: Name of the target column.
        min_labels: Labelled rows needed before performance is checked.
        drift_config: JSON drift thresholds and tests (see kfp_ct.drift.DriftConfig).
        cooldown_hours: No retrain within this many hours of the last one.
        max_error_rate: Share of failed requests above which monitoring alerts.
        primary_metric: Metric whose decay triggers retraining (auto by task).
        test_size: Share of rows the champion held out (for its reference predictions).
        seed: Random seed for samples.
        pipeline_run_id: Lineage: the pipeline run.
    """
    import json
    from collections import namedtuple
    from pathlib import Path

    from kfp_ct.logs import step_context
    from kfp_ct.steps.monitor import MonitorParams, MonitorPaths, run

    with step_context("monitor"):
        params = MonitorParams.from_kfp(
            model_name=model_name,
            capture_uri=capture_uri,
            since=since,
            label=label,
            min_labels=min_labels,
            drift_config=drift_config,
            cooldown_hours=cooldown_hours,
            max_error_rate=max_error_rate,
            primary_metric=primary_metric,
            test_size=test_size,
            seed=seed,
            pipeline_run_id=pipeline_run_id,
        )
        paths = MonitorPaths(
            window=Path(window.path), drift_report=Path(drift_report.path), report=Path(report.path)
        )
        out = run(params, paths)
        metrics.log_metric("rows", out.rows)
        metrics.log_metric("labelled_rows", out.labelled_rows)
        metrics.log_metric("drift_share", out.drift["share"])
        window.metadata.update({"format": "parquet", "window_hash": out.window_hash, **out.window})
    # `Output` is the decision: kfp.local evaluates dsl.If only on outputs named Output.
    return namedtuple("MonitorOutputs", ["Output", "window_uri", "summary"])(
        out.decision, window.uri, json.dumps(out.to_dict(), default=str)
    )
