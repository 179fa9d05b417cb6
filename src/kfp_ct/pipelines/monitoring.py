"""The `monitoring` pipeline: monitor captured traffic, then retrain on it when warranted.

The `monitor` step reads the traffic captured since the last monitoring run and writes its
labelled window; on `retrain` the retraining pipeline's steps (`add_retraining_steps`: drift
check, then the continuous-training sub-graph) run on that window. Schedule it with
`kfp-ct schedule --pipeline monitoring`. `data_uri` is not read: the window is the captured one.
"""

from __future__ import annotations

from kfp import dsl

from kfp_ct.components.monitor import monitor
from kfp_ct.pipelines.continuous_training import TaskHook, _no_hook
from kfp_ct.pipelines.notifications import notified
from kfp_ct.pipelines.parameters import (
    DriftParams,
    MonitoredTrainingParams,
    MonitoringParams,
    NotificationParams,
    pipeline,
)
from kfp_ct.pipelines.retraining import add_retraining_steps

NAME = "monitoring"
DESCRIPTION = (
    "Monitor the traffic the model server captured (drift, performance on labels, quality, errors, "
    "latency); when warranted, retrain on the labelled window through the retraining steps."
)


def build(hook: TaskHook = _no_hook):
    """Return the monitoring pipeline; `hook(step, task)` may add platform settings."""

    def monitoring(
        p: MonitoredTrainingParams, d: DriftParams, m: MonitoringParams, n: NotificationParams
    ) -> None:
        with notified(NAME, p.model_name, n, hook):
            watch = monitor(
                model_name=p.model_name,
                capture_uri=m.capture_uri,
                since=m.since,
                label=p.label,
                min_labels=m.min_labels,
                drift_config=d.drift_config,
                cooldown_hours=d.cooldown_hours,
                max_error_rate=m.max_error_rate,
                primary_metric=p.primary_metric,
                test_size=p.test_size,
                seed=p.seed,
                pipeline_run_id=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
            ).set_display_name("monitor")
            watch.set_caching_options(False)
            hook("monitor", watch)
            with dsl.If(watch.outputs["Output"] == "retrain", name="monitoring-warrants-retraining"):
                add_retraining_steps(p, d, watch.outputs["window_uri"], hook)

    return pipeline(monitoring, MonitoredTrainingParams, DriftParams, MonitoringParams, NotificationParams,
                    name=NAME, description=DESCRIPTION)  # fmt: skip
