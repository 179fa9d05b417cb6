"""storageUri resolution from MLflow download URIs: table-driven."""

from __future__ import annotations

import pytest

from kfp_ct.cluster.storage import resolve_storage_uri, to_storage_uri
from kfp_ct.errors import ClusterError

DEST = "s3://mlflow/artifacts"


@pytest.mark.parametrize(
    ("download_uri", "destination", "expected"),
    [
        ("mlflow-artifacts:/1/models/m-ab/artifacts", DEST, "s3://mlflow/artifacts/1/models/m-ab/artifacts"),
        ("mlflow-artifacts:/1/models/m-ab/artifacts", DEST + "/", "s3://mlflow/artifacts/1/models/m-ab/artifacts"),
        ("mlflow-artifacts://mlflow.kubeflow:5000/2/x/artifacts", DEST, "s3://mlflow/artifacts/2/x/artifacts"),
        ("mlflow-artifacts:/1/m", "gs://bucket/root", "gs://bucket/root/1/m"),
        ("s3://bucket/1/models/m-ab/artifacts", None, "s3://bucket/1/models/m-ab/artifacts"),
        ("s3://bucket/1/models/m-ab/artifacts", DEST, "s3://bucket/1/models/m-ab/artifacts"),
        ("gs://bucket/path", None, "gs://bucket/path"),
        ("pvc://models-claim/churn/3", None, "pvc://models-claim/churn/3"),
    ],
)  # fmt: skip
def test_maps_to_pullable_uri(download_uri, destination, expected, monkeypatch):
    monkeypatch.delenv("KFP_CT_MLFLOW_ARTIFACTS_DESTINATION", raising=False)
    assert to_storage_uri(download_uri, destination) == expected


@pytest.mark.parametrize(
    ("download_uri", "destination", "fix"),
    [
        ("models:/churn/3", DEST, "MLflow reference"),
        ("models:/churn@champion", DEST, "MLflow reference"),
        ("runs:/abc/model", DEST, "MLflow reference"),
        ("mlflow://churn/3", DEST, "MLflow reference"),
        ("file:///mlruns/1/models/m-ab/artifacts", DEST, "--artifacts-destination"),
        ("/mlruns/1/models/m-ab/artifacts", DEST, "--artifacts-destination"),
        ("mlflow-artifacts:/1/models/m-ab", None, "set KFP_CT_MLFLOW_ARTIFACTS_DESTINATION"),
        ("mlflow-artifacts:/1/models/m-ab", "file:///srv/mlartifacts", "--artifacts-destination"),
        ("https://example.com/model.tar.gz", DEST, "s3://, gs://, pvc://"),
        ("s3://", DEST, "names no bucket"),
    ],
)
def test_refuses_what_a_cluster_cannot_pull(download_uri, destination, fix, monkeypatch):
    monkeypatch.delenv("KFP_CT_MLFLOW_ARTIFACTS_DESTINATION", raising=False)
    with pytest.raises(ClusterError, match=fix.replace("+", r"\+")) as err:
        to_storage_uri(download_uri, destination)
    assert download_uri in str(err.value) or destination in str(err.value)


def test_destination_from_environment(monkeypatch):
    monkeypatch.setenv("KFP_CT_MLFLOW_ARTIFACTS_DESTINATION", "s3://env-bucket/art")
    assert to_storage_uri("mlflow-artifacts:/5/m") == "s3://env-bucket/art/5/m"


def test_resolve_asks_mlflow_for_the_download_uri():
    class Registry:
        def get_model_version_download_uri(self, name, version):
            return f"mlflow-artifacts:/7/models/{name}-{version}/artifacts"

    got = resolve_storage_uri("churn", "3", DEST, client=Registry())
    assert got == "s3://mlflow/artifacts/7/models/churn-3/artifacts"
