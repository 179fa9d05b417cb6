"""Files for the `kserve-sklearnserver` runtime, which loads one `model.joblib` file.

The project saves models in MLflow format with skops (`model.skops`); KServe's sklearnserver
wants a single joblib/pickle file and runs its own scikit-learn (~1.5). So the deploy step loads
the MLflow model, writes `model.joblib`, and logs it to the version's MLflow run under
`kserve-sklearnserver/`, a prefix of its own that holds only that file (the storage initializer
copies the whole prefix). Pickles are tied to the scikit-learn version that wrote them: see
docs/deploy-kserve.md for the version-skew risk.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from kfp_ct import lineage
from kfp_ct.deploy.base import DeployRequest
from kfp_ct.errors import ClusterError

ARTIFACT_PATH = "kserve-sklearnserver"
FILENAME = "model.joblib"


def write_joblib(model_dir: Path, out_dir: Path) -> Path:
    """Load the MLflow sklearn model in `model_dir` and write `out_dir/model.joblib`."""
    import joblib

    from kfp_ct.tracking.models import load_model

    model = load_model(model_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / FILENAME
    joblib.dump(model, path)
    return path


def _run_id(request: DeployRequest) -> str:
    for key in (lineage.K8S_MLFLOW_RUN_ID, "mlflow_run_id", "run_id"):
        if request.lineage.get(key):
            return request.lineage[key]
    raise ClusterError(
        "runtime kserve-sklearnserver needs the MLflow run id in the deploy request's lineage "
        f"('{lineage.K8S_MLFLOW_RUN_ID}') to store model.joblib beside the model"
    )


def publish_joblib_model(
    request: DeployRequest, artifacts_destination: str | None = None, client: Any | None = None
) -> str:
    """Write model.joblib for `request`, log it to its MLflow run, return its storage URI."""
    from kfp_ct.cluster.storage import to_storage_uri

    if request.model_dir is None:
        raise ClusterError("runtime kserve-sklearnserver needs the model files (model_dir)")
    if client is None:
        from kfp_ct.tracking.registry import mlflow_client

        client = mlflow_client()
    run_id = _run_id(request)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_joblib(Path(request.model_dir), Path(tmp) / ARTIFACT_PATH)
        client.log_artifact(run_id, str(path), artifact_path=ARTIFACT_PATH)
    artifact_uri = client.get_run(run_id).info.artifact_uri
    return to_storage_uri(f"{artifact_uri.rstrip('/')}/{ARTIFACT_PATH}", artifacts_destination)
