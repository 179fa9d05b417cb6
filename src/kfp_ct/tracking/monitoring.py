"""Monitoring runs in MLflow: the watermark (until where traffic was monitored) of each model."""

from __future__ import annotations

from datetime import datetime

from kfp_ct import lineage
from kfp_ct.tracking import runs

MONITOR_EXPERIMENT = "kfp-ct-monitoring"
WINDOW_SINCE = "kfp_ct.monitor.since"
WINDOW_UNTIL = "kfp_ct.monitor.until"


def last_watermark(model_name: str, experiment: str = MONITOR_EXPERIMENT) -> datetime | None:
    """The end of the newest window monitored for `model_name`, or None before the first run."""
    import mlflow

    runs.connect(experiment)
    quoted = model_name.replace("'", "\\'")
    found = mlflow.search_runs(
        experiment_names=[experiment],
        filter_string=f"tags.`{lineage.MODEL_NAME}` = '{quoted}'",
        order_by=["attributes.start_time DESC"],
        max_results=20,
        output_format="list",
    )
    marks = [r.data.tags.get(WINDOW_UNTIL) for r in found]
    marks = [datetime.fromisoformat(m) for m in marks if m]
    return max(marks) if marks else None


def monitoring_runs(model_name: str, experiment: str = MONITOR_EXPERIMENT) -> list[dict]:
    """Every monitoring run of `model_name`, newest first: run id and tags."""
    import mlflow

    runs.connect(experiment)
    found = mlflow.search_runs(
        experiment_names=[experiment],
        filter_string=f"tags.`{lineage.MODEL_NAME}` = '{model_name}'",
        order_by=["attributes.start_time DESC"],
        output_format="list",
    )
    return [
        {"run_id": r.info.run_id, "tags": dict(r.data.tags), "metrics": dict(r.data.metrics)} for r in found
    ]
