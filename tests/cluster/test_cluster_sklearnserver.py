"""model.joblib for kserve-sklearnserver: written from the MLflow model, logged to its run."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from kfp_ct.cluster import inferenceservice as isvc
from kfp_ct.deploy.base import DeployRequest
from kfp_ct.deploy.targets.kserve_sklearnserver import publish_joblib_model, write_joblib
from kfp_ct.errors import ClusterError


def test_joblib_predicts_like_the_mlflow_model(tmp_path):
    import mlflow.sklearn

    x = pd.DataFrame({"a": np.linspace(-1, 1, 20), "b": np.linspace(1, -1, 20) ** 2})
    y = (x["a"] > 0).astype(int)
    model = LogisticRegression().fit(x, y)
    model_dir = tmp_path / "model"
    mlflow.sklearn.save_model(model, str(model_dir))
    path = write_joblib(model_dir, tmp_path / "out")
    assert path.name == "model.joblib"
    assert list(joblib.load(path).predict(x)) == list(model.predict(x))

    logged = []

    class Client:
        def log_artifact(self, run_id, local_path, artifact_path):
            logged.append((run_id, Path(local_path).name, artifact_path))

        def get_run(self, run_id):
            info = type("Info", (), {"artifact_uri": f"mlflow-artifacts:/1/{run_id}/artifacts"})
            return type("Run", (), {"info": info})

    request = DeployRequest("churn", "3", "models:/churn/3", model_dir, None,
                            lineage={"kfp-ct.io/mlflow-run-id": "r1"})  # fmt: skip
    uri = publish_joblib_model(request, "s3://mlflow/artifacts", client=Client())
    assert logged == [("r1", "model.joblib", "kserve-sklearnserver")]
    assert uri == "s3://mlflow/artifacts/1/r1/artifacts/kserve-sklearnserver"


@pytest.mark.parametrize("runtime", ["kserve-sklearnserver", "kserve-mlserver"])
def test_a_stock_runtime_refuses_an_xgboost_model_before_writing_anything(tmp_path, runtime):
    from kfp_ct.core.schema import infer_schema
    from kfp_ct.core.train import train_model
    from kfp_ct.data.synth import SynthSpec, make_dataset
    from kfp_ct.deploy.targets.kserve import KServeConfig, KServeTarget
    from kfp_ct.tracking import models

    frame = make_dataset(SynthSpec(rows=200, seed=1))
    result = train_model(frame, infer_schema(frame, "label", "binary"), "xgboost", {"n_estimators": 5}, 0)
    x = frame[result.features]
    models.save_model(result.model, tmp_path / "m", x, result.model.predict(x))
    published = []
    target = KServeTarget(
        KServeConfig(runtime=runtime, check_rbac=False),
        api_client=object(),  # never called: the refusal comes first
        storage_uri_for=lambda request: published.append(request) or "s3://b/m",
    )
    request = DeployRequest("churn", "2", "models:/churn/2", tmp_path / "m", None)
    with pytest.raises(ClusterError, match=f"runtime '{runtime}' cannot load a 'xgboost' model.*'kfp-ct'"):
        target.deploy(request)
    assert published == []  # no joblib logged, no InferenceService applied
    isvc.check_runtime_loads(runtime, "random_forest")  # scikit-learn's own estimators are fine
    isvc.check_runtime_loads("kfp-ct", "xgboost")
