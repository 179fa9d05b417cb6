"""Component `train`: fit preprocessing + estimator, log it to MLflow."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output

from kfp_ct.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def train(
    train_set: Input[Dataset],
    schema: Input[Artifact],
    estimator: str,
    hyperparameters: str,
    seed: int,
    pipeline_run_id: str,
    data_hash: str,
    data_uri: str,
    model: Output[Model],
    metrics: Output[Metrics],
    search: str = "{}",
    device: str = "auto",
) -> NamedTuple("TrainOutputs", [("run_id", str), ("model_uri", str)]):
    """Train a scikit-learn pipeline and log params, metrics and the model to MLflow.

    Args:
        estimator: Estimator name (see kfp_ct.core.estimators.ESTIMATORS).
        hyperparameters: JSON object of estimator hyperparameters.
        search: JSON hyperparameter search (n_trials, timeout_s, space); {} for none.
        device: auto, cpu or cuda.
        seed: Random seed.
        pipeline_run_id: Lineage: the pipeline run.
        data_hash: Lineage: content hash of the input data.
        data_uri: Lineage: where the data came from.
    """
    from collections import namedtuple
    from pathlib import Path

    from kfp_ct.logs import step_context
    from kfp_ct.steps.train import TrainParams, TrainPaths, run

    with step_context("train"):
        params = TrainParams.from_kfp(
            estimator=estimator,
            hyperparameters=hyperparameters,
            search=search,
            device=device,
            seed=seed,
            pipeline_run_id=pipeline_run_id,
            data_hash=data_hash,
            data_uri=data_uri,
        )
        paths = TrainPaths(train_set=Path(train_set.path), schema=Path(schema.path), model=Path(model.path))
        out = run(params, paths)
        for key, value in out.train_metrics.items():
            metrics.log_metric(key, value)
        model.metadata.update(
            {"mlflow_run_id": out.run_id, "mlflow_model_uri": out.model_uri, "estimator": estimator}
        )
    return namedtuple("TrainOutputs", ["run_id", "model_uri"])(out.run_id, out.model_uri)
