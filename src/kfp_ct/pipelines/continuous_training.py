"""The `continuous-training` pipeline: validate -> train -> evaluate -> compare -> register -> deploy.

`report` runs after compare whatever it decided, and writes the run report (an `HTML` output).

`add_training_steps` builds the shared sub-graph; the retraining pipeline calls the same function
under its drift gate, so both pipelines run exactly the same steps with the same parameters
(`TrainingParams`, declared once in `kfp_ct.pipelines.parameters`).
"""

from __future__ import annotations

from collections.abc import Callable

from kfp import dsl

from kfp_ct.components import compare, deploy, evaluate, register, report, train, validate
from kfp_ct.pipelines.notifications import notified
from kfp_ct.pipelines.parameters import NotificationParams, TrainingParams, pipeline

NAME = "continuous-training"
DESCRIPTION = (
    "Validate, train, evaluate, compare against the champion, register in MLflow and deploy to KServe."
)

TaskHook = Callable[[str, dsl.PipelineTask], None]


def _no_hook(step: str, task: dsl.PipelineTask) -> None:
    return None


def add_training_steps(
    p: TrainingParams, hook: TaskHook = _no_hook, extra_tags: str = "{}", drift_summary: str = "{}"
) -> dsl.PipelineTask:
    """Add the training steps to the current pipeline; return the compare task (its decision gates).

    Args:
        p: The training parameters (pipeline-parameter channels, or task outputs in their place).
        hook: Called as `hook(step, task)` on every step, e.g. to add platform settings.
        extra_tags: JSON object of further model-version tags (a channel or a constant).
        drift_summary: The drift check's JSON summary, shown in the run report (a channel or "{}").
    """
    run_id = dsl.PIPELINE_JOB_NAME_PLACEHOLDER
    v = validate(
        data_uri=p.data_uri,
        label=p.label,
        task=p.task,
        schema_uri=p.schema_uri,
        model_name=p.model_name,
        validation_config=p.validation_config,
        test_size=p.test_size,
        seed=p.seed,
    ).set_display_name("validate")
    t = train(
        train_set=v.outputs["train_set"],
        schema=v.outputs["schema"],
        estimator=p.estimator,
        hyperparameters=p.hyperparameters,
        search=p.search,
        device=p.device,
        seed=p.seed,
        pipeline_run_id=run_id,
        data_hash=v.outputs["data_hash"],
        data_uri=p.data_uri,
    ).set_display_name("train")
    e = evaluate(
        model=t.outputs["model"],
        test_set=v.outputs["test_set"],
        schema=v.outputs["schema"],
        run_id=t.outputs["run_id"],
    ).set_display_name("evaluate")
    c = (
        compare(
            model=t.outputs["model"],
            test_set=v.outputs["test_set"],
            schema=v.outputs["schema"],
            model_name=p.model_name,
            primary_metric=p.primary_metric,
            min_improvement=p.min_improvement,
            guardrails=p.guardrails,
            require_significance=p.require_significance,
            alpha=p.alpha,
            n_bootstrap=p.n_bootstrap,
        )
        .set_display_name("compare")
        .after(e)
    )
    rep = report(
        validation=v.outputs["validation"],
        evaluation=e.outputs["evaluation"],
        decision_record=c.outputs["decision_record"],
        model_name=p.model_name,
        pipeline_run_id=run_id,
        mlflow_run_id=t.outputs["run_id"],
        data_uri=p.data_uri,
        data_hash=v.outputs["data_hash"],
        drift_summary=drift_summary,
    ).set_display_name("report")
    with dsl.If(c.outputs["Output"] != "reject", name="challenger-wins"):
        r = register(
            model_name=p.model_name,
            model_uri=t.outputs["model_uri"],
            run_id=t.outputs["run_id"],
            decision_record=c.outputs["decision_record"],
            metrics_json=e.outputs["metrics_json"],
            pipeline_run_id=run_id,
            data_hash=v.outputs["data_hash"],
            data_uri=p.data_uri,
            extra_tags=extra_tags,
            intended_use=p.intended_use,
        ).set_display_name("register")
        d = deploy(
            model=t.outputs["model"],
            test_set=v.outputs["test_set"],
            model_name=p.model_name,
            model_version=r.outputs["model_version"],
            decision_record=c.outputs["decision_record"],
            target=p.deploy_target,
            readiness_timeout_s=p.readiness_timeout_s,
            kserve_options=p.kserve_options,
            rollout=p.rollout,
            canary_percent=p.canary_percent,
            bake_seconds=p.bake_seconds,
            min_canary_requests=p.min_canary_requests,
            on_insufficient=p.on_insufficient,
            promote_after_shadow=p.promote_after_shadow,
            rollout_thresholds=p.rollout_thresholds,
        ).set_display_name("deploy")
    steps = {
        "validate": v,
        "train": t,
        "evaluate": e,
        "compare": c,
        "report": rep,
        "register": r,
        "deploy": d,
    }
    for step, task in steps.items():
        task.set_caching_options(False)  # every step reads or writes MLflow state
        hook(step, task)
    return c


def build(hook: TaskHook = _no_hook):
    """Return the continuous-training pipeline; `hook(step, task)` may add platform settings."""

    def continuous_training(p: TrainingParams, n: NotificationParams) -> None:
        with notified(NAME, p.model_name, n, hook):
            add_training_steps(p, hook)

    return pipeline(
        continuous_training, TrainingParams, NotificationParams, name=NAME, description=DESCRIPTION
    )
