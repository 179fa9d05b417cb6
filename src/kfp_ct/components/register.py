"""Component `register`: a new registry version with lineage tags and alias `challenger`."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Artifact, Input

from kfp_ct.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def register(
    model_name: str,
    model_uri: str,
    run_id: str,
    decision_record: Input[Artifact],
    metrics_json: str,
    pipeline_run_id: str,
    data_hash: str,
    data_uri: str,
    extra_tags: str,
    intended_use: str = "",
) -> NamedTuple("RegisterOutputs", [("model_version", str)]):
    """Register the trained model in MLflow, point `challenger` at it and write its model card.

    Args:
        model_name: Registered model name.
        model_uri: MLflow model URI from train.
        run_id: MLflow run id from train.
        decision_record: Compare's decision record (decision and reasons become tags).
        metrics_json: Held-out metrics from evaluate, stored as tags.
        pipeline_run_id: Lineage: the pipeline run.
        data_hash: Lineage: content hash of the input data.
        data_uri: Lineage: where the data came from.
        extra_tags: JSON object of further version tags (e.g. the retraining window's hash).
        intended_use: What the model is for and who uses it (the model card's intended use).
    """
    from collections import namedtuple
    from pathlib import Path

    from kfp_ct.logs import step_context
    from kfp_ct.steps.register import RegisterParams, RegisterPaths, run

    with step_context("register"):
        params = RegisterParams.from_kfp(
            model_name=model_name,
            model_uri=model_uri,
            run_id=run_id,
            metrics_json=metrics_json,
            pipeline_run_id=pipeline_run_id,
            data_hash=data_hash,
            data_uri=data_uri,
            extra_tags=extra_tags,
            intended_use=intended_use,
        )
        out = run(params, RegisterPaths(decision_record=Path(decision_record.path)))
    return namedtuple("RegisterOutputs", ["model_version"])(out.model_version)
