"""The exit handler every pipeline runs in: its exit task `notify` reports the run's outcome."""

from __future__ import annotations

from typing import Any

from kfp import dsl

from kfp_ct.components.notify import notify
from kfp_ct.pipelines.parameters import NotificationParams


def notified(pipeline: str, model_name: Any, n: NotificationParams, hook: Any) -> dsl.ExitHandler:
    """An ExitHandler for the pipeline body whose exit task posts the outcome (never failing)."""
    task = notify(
        notify_url=n.notify_url,
        notify_format=n.notify_format,
        pipeline=pipeline,
        model_name=model_name,
        pipeline_run_id=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
        pipeline_job_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
    ).set_display_name("notify")
    task.set_caching_options(False)
    hook("notify", task)
    return dsl.ExitHandler(task, name="run-then-notify")
