"""Turn an MLflow model-version download URI into a storage URI KServe can pull.

KServe's storage initializer understands `s3://`, `gs://` and `pvc://` (among others); it knows
nothing of MLflow. Behind a proxying MLflow server (`mlflow server --artifacts-destination
s3://bucket/prefix`), `get_model_version_download_uri` answers `mlflow-artifacts:/<path>`, which
maps to `<artifacts-destination>/<path>`; with `--no-serve-artifacts` it answers the direct path.
"""

from __future__ import annotations

import os
from urllib.parse import urlparse

from kfp_ct.errors import ClusterError

PULLABLE_SCHEMES = ("s3", "gs", "pvc")
ARTIFACTS_DESTINATION_ENV = "KFP_CT_MLFLOW_ARTIFACTS_DESTINATION"


def _join(base: str, path: str) -> str:
    return f"{base.rstrip('/')}/{path.strip('/')}" if path.strip("/") else base.rstrip("/")


def check_pullable(uri: str) -> str:
    """Return `uri` if KServe can pull it from a cluster; else raise ClusterError saying why."""
    parsed = urlparse(uri)
    scheme = parsed.scheme.lower()
    if scheme in ("models", "runs", "mlflow"):
        raise ClusterError(
            f"storage URI '{uri}' is an MLflow reference KServe cannot pull; resolve it to the "
            "artifact location first (kfp-ct does this with MlflowClient."
            "get_model_version_download_uri and KFP_CT_MLFLOW_ARTIFACTS_DESTINATION), or pass "
            "an s3://, gs:// or pvc:// URI"
        )
    if scheme in ("", "file") or (len(scheme) == 1 and uri[1:3] in (":\\", ":/")):
        raise ClusterError(
            f"storage URI '{uri}' is a local path on the MLflow server, which cluster pods "
            "cannot read; run `mlflow server --artifacts-destination s3://<bucket>/<prefix>` "
            "(or --default-artifact-root s3://...) so model files land in object storage"
        )
    if scheme not in PULLABLE_SCHEMES:
        raise ClusterError(
            f"storage URI '{uri}' has scheme '{scheme}://', which this deploy step does not "
            f"use; store models under one of {', '.join(s + '://' for s in PULLABLE_SCHEMES)}"
        )
    if not parsed.netloc:
        raise ClusterError(f"storage URI '{uri}' names no bucket or claim after '{scheme}://'")
    return uri


def to_storage_uri(download_uri: str, artifacts_destination: str | None = None) -> str:
    """Map an MLflow download URI to a KServe storage URI (pure; see module docstring).

    Args:
        download_uri: What `MlflowClient().get_model_version_download_uri` returned.
        artifacts_destination: The MLflow server's `--artifacts-destination` (for
            `mlflow-artifacts:` URIs); defaults to $KFP_CT_MLFLOW_ARTIFACTS_DESTINATION.
    """
    destination = artifacts_destination
    if destination is None:
        destination = os.environ.get(ARTIFACTS_DESTINATION_ENV) or None
    parsed = urlparse(download_uri)
    if parsed.scheme.lower() == "mlflow-artifacts":
        if not destination:
            raise ClusterError(
                f"model files are at '{download_uri}', served through the MLflow server; set "
                f"{ARTIFACTS_DESTINATION_ENV} (ConfigMap kfp-ct-config) to the server's "
                "--artifacts-destination, e.g. s3://mlflow/artifacts, so KServe can pull them"
            )
        check_pullable(destination)
        # mlflow-artifacts:/<path> and mlflow-artifacts://host:port/<path> both map <path>.
        return check_pullable(_join(destination, parsed.path))
    return check_pullable(download_uri)


def resolve_storage_uri(
    model_name: str,
    model_version: str,
    artifacts_destination: str | None = None,
    client: object | None = None,
) -> str:
    """Ask MLflow where a registered version's files are and return the pullable storage URI."""
    if client is None:
        from kfp_ct.tracking.registry import mlflow_client

        client = mlflow_client()
    download_uri = client.get_model_version_download_uri(model_name, model_version)  # type: ignore[attr-defined]
    return to_storage_uri(download_uri, artifacts_destination)
