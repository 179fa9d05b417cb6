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
) -> NamedTuple("EvaluateOutputs", [("metrics_json", str)]):
    """Evaluate the trained model on the held-out split; log to MLflow too.

    Args:
        run_id: MLflow run of the training step, which receives the metrics.
    """
    import json
    from collections import namedtuple
    from pathlib import Path

    from kfp_ct.logs import step_context
    from kfp_ct.steps.evaluate import evaluate_step

    with step_context("evaluate"):
        ev = evaluate_step(Path(model.path), Path(test_set.path), Path(schema.path), run_id)
        for key, value in ev.metrics.items():
            metrics.log_metric(key, value)
        for key, value in ev.latency_ms.items():
            metrics.log_metric(f"latency_{key}_ms", value)
        if ev.confusion is not None:
            classification_metrics.log_confusion_matrix(ev.classes, ev.confusion)
        if ev.roc is not None:
            classification_metrics.log_roc_curve(ev.roc["fpr"], ev.roc["tpr"], ev.roc["thresholds"])
        Path(report.path).write_text(ev.to_markdown())
    return namedtuple("EvaluateOutputs", ["metrics_json"])(json.dumps(ev.metrics))
