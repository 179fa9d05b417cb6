"""The `retraining` pipeline: drift check on a new window, then the continuous-training steps.

The training steps are the same sub-graph as continuous training (`add_training_steps`) with the
same parameters (`TrainingParams`), run only when the drift check decides `retrain`, on the
training set it built. Its own parameters are `DriftParams`; `data_uri` is the new window.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from kfp import dsl

from kfp_ct.components.drift_check import drift_check
from kfp_ct.pipelines.continuous_training import TaskHook, _no_hook, add_training_steps
from kfp_ct.pipelines.notifications import notified
from kfp_ct.pipelines.parameters import DriftParams, NotificationParams, TrainingParams, pipeline

NAME = "retraining"
DESCRIPTION = (
    "Check a new data window for drift; when warranted, retrain, compare, "
    "register and deploy through the continuous-training steps."
)


def add_retraining_steps(
    p: TrainingParams, d: DriftParams, window_uri: Any, hook: TaskHook = _no_hook
) -> Any:
    """The drift check on `window_uri`, then the training steps when it decides `retrain`.

    Returns the drift check's decision (a pipeline channel). The `monitoring` pipeline adds the
    same steps on the window of captured traffic it writes.
    """
    drift = drift_check(
        window_uri=window_uri,
        reference_uri=d.reference_uri,
        label=p.label,
        model_name=p.model_name,
        drift_config=d.drift_config,
        training_policy=d.training_policy,
        max_training_rows=d.max_training_rows,
        cooldown_hours=d.cooldown_hours,
        primary_metric=p.primary_metric,
        test_size=p.test_size,
        seed=p.seed,
        pipeline_run_id=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
    ).set_display_name("drift-check")
    drift.set_caching_options(False)
    hook("drift_check", drift)
    training = dataclasses.replace(p, data_uri=drift.outputs["training_data_uri"])
    with dsl.If(drift.outputs["Output"] == "retrain", name="drift-warrants-retraining"):
        add_training_steps(
            training,
            hook,
            extra_tags=drift.outputs["lineage_tags"],
            drift_summary=drift.outputs["summary"],
        )
    return drift.outputs["Output"]


def build(hook: TaskHook = _no_hook):
    """Return the retraining pipeline; `hook(step, task)` may add platform settings."""

    def retraining(p: TrainingParams, d: DriftParams, n: NotificationParams) -> None:
        with notified(NAME, p.model_name, n, hook):
            add_retraining_steps(p, d, p.data_uri, hook)

    return pipeline(retraining, TrainingParams, DriftParams, NotificationParams, name=NAME,
                    description=DESCRIPTION)  # fmt: skip
