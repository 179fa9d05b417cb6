"""`kfp_ct.steps.train.run`: fits, saves an MLflow model and logs params, metrics and lineage."""

from __future__ import annotations

import pytest

from kfp_ct import lineage
from kfp_ct.errors import ParameterError
from kfp_ct.steps.train import TrainParams
from kfp_ct.tracking import models
from kfp_ct.tracking.registry import mlflow_client


def test_train_saves_the_model_and_logs_the_run(trained):
    out = trained.out
    assert out.run_id and out.model_uri.startswith("models:/")
    assert 0.7 < out.train_metrics["train_roc_auc"] <= 1.0
    assert 0.0 < out.fit_seconds == out.train_metrics["fit_seconds"]
    assert (trained.model / "MLmodel").is_file()
    model = models.load_model(trained.model)
    assert "label" not in model.feature_names_in_ and "age" in model.feature_names_in_
    run = mlflow_client().get_run(out.run_id)
    assert run.data.params["estimator"] == "hist_gradient_boosting"
    assert run.data.params["max_iter"] == "20" and run.data.params["seed"] == "3"
    assert run.data.tags[lineage.PIPELINE_RUN_ID] == "unit-run"
    assert run.data.tags[lineage.DATA_HASH] == trained.params.data_hash
    assert run.data.tags[lineage.DATA_URI] == str(trained.data)
    assert run.data.tags[lineage.TASK] == "binary" and run.data.tags[lineage.LABEL_COLUMN] == "label"
    assert run.data.metrics["train_roc_auc"] == pytest.approx(out.train_metrics["train_roc_auc"])


def test_params_from_kfp_parse_hyperparameters():
    params = TrainParams.from_kfp(estimator="logistic_regression", hyperparameters='{"C": 0.5}', seed=1)
    assert params.hyperparameters == {"C": 0.5} and params.estimator == "logistic_regression"
    assert TrainParams.from_kfp(hyperparameters="").hyperparameters == {}
    with pytest.raises(ParameterError, match="hyperparameters: not valid JSON"):
        TrainParams.from_kfp(hyperparameters="{C: 1}")
    with pytest.raises(ParameterError, match="hyperparameters: must be a JSON object"):
        TrainParams.from_kfp(hyperparameters="[1, 2]")
