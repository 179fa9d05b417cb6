"""Component `evaluate`: held-out metrics, confusion matrix, ROC curve, latency."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import (
    Artifact,
    ClassificationMetrics,
    Dataset,
    Input,
    Markdown,
    Metrics,
    Model,
    Output,
)

from kfp_ct.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def evaluate(
    model: Input[Model],
    test_set: Input[Dataset],
    schema: Input[Artifact],
    run_id: str,
    metrics: Output[Metrics],
    classification_metrics: Output[ClassificationMetrics],
    report: Output[Markdown],
    evaluation: Output[Artifact],
) -> NamedTuple("EvaluateOutputs", [("metrics_json", str)]):
    """Evaluate the trained model on the held-out split (metrics, intervals, plots); log to MLflow too.

    Args:
        run_id: MLflow run of the training step, which receives the metrics.
    """
    import json
    from collections import namedtuple
    from pathlib import Path

    from kfp_ct.logs import step_context
    from kfp_ct.steps.evaluate import EvaluateParams, EvaluatePaths, run

    with step_context("evaluate"):
        paths = EvaluatePaths(
            model=Path(model.path),
            test_set=Path(test_set.path),
            schema=Path(schema.path),
            report=Path(report.path),
            evaluation=Path(evaluation.path),
        )
        out = run(EvaluateParams(run_id=run_id), paths)
        for key, value in out.metrics.items():
            metrics.log_metric(key, value)
        for key, value in out.latency_ms.items():
            metrics.log_metric(f"latency_{key}_ms", value)
        if out.confusion is not None:
            classification_metrics.log_confusion_matrix(out.classes, out.confusion)
        if out.roc is not None:
            classification_metrics.log_roc_curve(out.roc["fpr"], out.roc["tpr"], out.roc["thresholds"])
        evaluation.metadata.update({"format": "json", "plots": sorted(out.images)})
    return namedtuple("EvaluateOutputs", ["metrics_json"])(json.dumps(out.metrics))
