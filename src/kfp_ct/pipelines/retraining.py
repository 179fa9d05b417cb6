"""The `retraining` pipeline: drift check on a new window, then the continuous-training steps.

The training steps are the same sub-graph as continuous training (`add_training_steps`), run
only when the drift check decides `retrain`, on the training set it built.
"""

from kfp import dsl

from kfp_ct.components.drift_check import drift_check
from kfp_ct.pipelines.continuous_training import TaskHook, TrainingParams, _no_hook, add_training_steps
from kfp_ct.settings import DEFAULT_MODEL_NAME

NAME = "retraining"


def build(hook: TaskHook = _no_hook):
    """Return the retraining pipeline; `hook(step, task)` may add platform settings."""

    @dsl.pipeline(
        name=NAME,
        description="Check a new data window for drift; when warranted, retrain, compare, "
        "register and deploy through the continuous-training steps.",
    )
    def retraining(
        data_uri: str,
        reference_uri: str = "",
        label: str = "label",
        model_name: str = DEFAULT_MODEL_NAME,
        drift_config: str = "{}",
        training_policy: str = "all",
        max_training_rows: int = 0,
        cooldown_hours: float = 0.0,
        task: str = "auto",
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
        drift = drift_check(
            window_uri=data_uri, reference_uri=reference_uri, label=label, model_name=model_name,
            drift_config=drift_config, training_policy=training_policy,
            max_training_rows=max_training_rows, cooldown_hours=cooldown_hours,
            primary_metric=primary_metric, test_size=test_size,
            seed=seed,
            pipeline_run_id=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
        ).set_display_name("drift-check")  # fmt: skip
        drift.set_caching_options(False)
        hook("drift_check", drift)
        fields = {k: v for k, v in locals().items() if k in TrainingParams.__dataclass_fields__}
        fields |= {
            "data_uri": drift.outputs["training_data_uri"],
            "extra_tags": drift.outputs["lineage_tags"],
        }
        with dsl.If(drift.outputs["Output"] == "retrain", name="drift-warrants-retraining"):
            add_training_steps(TrainingParams(**fields), hook)
        return drift.outputs["Output"]

    return retraining
