"""The `continuous-training` pipeline: validate -> train -> evaluate -> compare -> register -> deploy.

`add_training_steps` builds the shared sub-graph; the retraining pipeline calls the same function
under its drift gate, so both pipelines run exactly the same steps.
"""

from collections.abc import Callable
from dataclasses import dataclass

from kfp import dsl

from kfp_ct.components import compare, deploy, evaluate, register, train, validate
from kfp_ct.settings import DEFAULT_MODEL_NAME

NAME = "continuous-training"


@dataclass(frozen=True)
class TrainingParams:
    """Pipeline parameters consumed by the training steps (pipeline-parameter channels)."""

    data_uri: object  # every field holds a pipeline-parameter channel
    label: object
    task: object
    model_name: object
    schema_uri: object
    validation_config: object
    test_size: object
    seed: object
    estimator: object
    hyperparameters: object
    primary_metric: object
    min_improvement: object
    guardrails: object
    require_significance: object
    alpha: object
    n_bootstrap: object
    deploy_target: object
    readiness_timeout_s: object
    kserve_options: object
    extra_tags: object = "{}"


TaskHook = Callable[[str, dsl.PipelineTask], None]


def _no_hook(step: str, task: dsl.PipelineTask) -> None:
    return None


def add_training_steps(p: TrainingParams, hook: TaskHook = _no_hook) -> dsl.PipelineTask:
    """Add the six steps to the current pipeline; return the compare task (its decision gates)."""
    run_id = dsl.PIPELINE_JOB_NAME_PLACEHOLDER
    v = validate(
        data_uri=p.data_uri, label=p.label, task=p.task, schema_uri=p.schema_uri,
        model_name=p.model_name, validation_config=p.validation_config,
        test_size=p.test_size, seed=p.seed,
    ).set_display_name("validate")  # fmt: skip
    t = train(
        train_set=v.outputs["train_set"], schema=v.outputs["schema"], estimator=p.estimator,
        hyperparameters=p.hyperparameters, seed=p.seed, pipeline_run_id=run_id,
        data_hash=v.outputs["data_hash"], data_uri=p.data_uri,
    ).set_display_name("train")  # fmt: skip
    e = evaluate(
        model=t.outputs["model"], test_set=v.outputs["test_set"], schema=v.outputs["schema"],
        run_id=t.outputs["run_id"],
    ).set_display_name("evaluate")  # fmt: skip
    c = compare(
        model=t.outputs["model"], test_set=v.outputs["test_set"], schema=v.outputs["schema"],
        model_name=p.model_name, primary_metric=p.primary_metric,
        min_improvement=p.min_improvement, guardrails=p.guardrails,
        require_significance=p.require_significance, alpha=p.alpha, n_bootstrap=p.n_bootstrap,
    ).set_display_name("compare").after(e)  # fmt: skip
    with dsl.If(c.outputs["Output"] != "reject", name="challenger-wins"):
        r = register(
            model_name=p.model_name, model_uri=t.outputs["model_uri"], run_id=t.outputs["run_id"],
            decision_record=c.outputs["decision_record"],
            metrics_json=e.outputs["metrics_json"], pipeline_run_id=run_id,
            data_hash=v.outputs["data_hash"], data_uri=p.data_uri, extra_tags=p.extra_tags,
        ).set_display_name("register")  # fmt: skip
        d = deploy(
            model=t.outputs["model"], test_set=v.outputs["test_set"], model_name=p.model_name,
            model_version=r.outputs["model_version"],
            decision_record=c.outputs["decision_record"], target=p.deploy_target,
            readiness_timeout_s=p.readiness_timeout_s, kserve_options=p.kserve_options,
        ).set_display_name("deploy")  # fmt: skip
    for step, task in (
        ("validate", v),
        ("train", t),
        ("evaluate", e),
        ("compare", c),
        ("register", r),
        ("deploy", d),
    ):
        task.set_caching_options(False)  # every step reads or writes MLflow state
        hook(step, task)
    return c


def build(hook: TaskHook = _no_hook):
    """Return the continuous-training pipeline; `hook(step, task)` may add platform settings."""

    @dsl.pipeline(name=NAME, description="Validate, train, evaluate, compare against the champion, "
                  "register in MLflow and deploy to KServe.")  # fmt: skip
    def continuous_training(
        data_uri: str,
        label: str = "label",
        task: str = "auto",
        model_name: str = DEFAULT_MODEL_NAME,
        schema_uri: str = "",
        validation_config: str = "{}",
        test_size: float = 0.2,
        seed: int = 42,
        estimator: str = "hist_gradient_boosting",
        hyperparameters: str = "{}",
        primary_metric: str = "auto",
        min_improvement: float = 0.0,
        guardrails: str = "{}",
        require_significance: bool = True,
        alpha: float = 0.05,
        n_bootstrap: int = 1000,
        deploy_target: str = "kserve",
        readiness_timeout_s: float = 300.0,
        kserve_options: str = "{}",
    ) -> str:
        params = TrainingParams(
            **{k: v for k, v in locals().items() if k in TrainingParams.__dataclass_fields__}
        )
        c = add_training_steps(params, hook)
        return c.outputs["Output"]

    return continuous_training
