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
) -> NamedTuple("RegisterOutputs", [("model_version", str)]):
    """Register the trained model in MLflow and point `challenger` at it.

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
    """
    from collections import namedtuple
    from pathlib import Path

    from kfp_ct import lineage
    from kfp_ct.logs import step_context
    from kfp_ct.steps.register import register_step

    with step_context("register"):
        tags = {
            lineage.PIPELINE_RUN_ID: pipeline_run_id,
            lineage.DATA_HASH: data_hash,
            lineage.DATA_URI: data_uri,
        }
        ref = register_step(
            model_name, model_uri, run_id, Path(decision_record.path), metrics_json, tags, extra_tags
        )
    return namedtuple("RegisterOutputs", ["model_version"])(ref.version)
