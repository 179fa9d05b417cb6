"""Component `compare`: challenger vs champion on the same rows; the decision gates the rest."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Markdown, Metrics, Model, Output

from kfp_ct.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def compare(
    model: Input[Model],
    test_set: Input[Dataset],
    schema: Input[Artifact],
    model_name: str,
    primary_metric: str,
    min_improvement: float,
    guardrails: str,
    require_significance: bool,
    alpha: float,
    n_bootstrap: int,
    decision_record: Output[Artifact],
    report: Output[Markdown],
    metrics: Output[Metrics],
) -> str:
    """Decide promote, reject or first-model; return the decision (it gates register/deploy).

    Args:
        model_name: Registered model whose `champion` alias is the baseline.
        primary_metric: Metric that must improve (auto: roc_auc, accuracy or rmse by task).
        min_improvement: Smallest improvement of the primary metric that counts.
        guardrails: JSON object metric -> largest allowed regression.
        require_significance: Promote only if the paired test is significant.
        alpha: Significance level of the paired test.
        n_bootstrap: Bootstrap resamples.
    """
    from pathlib import Path

    from kfp_ct.logs import step_context
    from kfp_ct.steps.compare import CompareParams, ComparePaths, run

    with step_context("compare"):
        params = CompareParams.from_kfp(
            model_name=model_name,
            primary_metric=primary_metric,
            min_improvement=min_improvement,
            guardrails=guardrails,
            require_significance=require_significance,
            alpha=alpha,
            n_bootstrap=n_bootstrap,
        )
        paths = ComparePaths(
            model=Path(model.path),
            test_set=Path(test_set.path),
            schema=Path(schema.path),
            decision_record=Path(decision_record.path),
            report=Path(report.path),
        )
        d = run(params, paths).decision
        for key, value in d.challenger.items():
            metrics.log_metric(f"challenger_{key}", value)
        for key, value in (d.champion or {}).items():
            metrics.log_metric(f"champion_{key}", value)
        if d.test is not None:
            metrics.log_metric("delta", d.test.delta)
            metrics.log_metric("p_value", d.test.p_value)
    return d.decision
