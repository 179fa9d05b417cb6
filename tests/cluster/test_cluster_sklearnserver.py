"""model.joblib for kserve-sklearnserver: written from the MLflow model, logged to its run."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from kfp_ct.deploy.base import DeployRequest
from kfp_ct.deploy.targets.kserve_sklearnserver import publish_joblib_model, write_joblib


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
