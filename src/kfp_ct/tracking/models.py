"""Saving and loading models in MLflow format: one set of flavour options, one champion loader.

Every model, XGBoost and LightGBM ones included, is a scikit-learn Pipeline saved with MLflow's
`sklearn` flavour (so `mlflow.pyfunc.load_model` scores raw feature frames), serialized with skops
(no pickle) and an explicit list of trusted types (`kfp_ct.core.estimators.SKOPS_TRUSTED_TYPES`).
XGBoost and LightGBM boosters travel inside the skops file in their own model formats. An XGBoost
classifier is a `kfp_ct.core.boosting.XGBLabelClassifier`, so loading one needs kfp-ct installed
(the project image and runtime have it).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from kfp_ct import lineage
from kfp_ct.tracking import registry

NUMERIC_SIGNATURE_TYPES = {"double", "float", "long", "integer", "boolean"}
ESTIMATOR_METADATA = "kfp_ct_estimator"  # MLmodel `metadata` key: the estimator's kfp-ct name


def estimator_libraries(model: Any) -> list[str]:
    """The distributions beyond scikit-learn a fitted pipeline's estimator needs (xgboost, lightgbm)."""
    steps = getattr(model, "steps", None)
    final = steps[-1][1] if steps else model
    mro = [cls.__module__ for cls in type(final).__mro__]
    return [lib for lib in ("xgboost", "lightgbm") if any(m.split(".")[0] == lib for m in mro)]


def pip_requirements(model: Any = None) -> list[str]:
    """The serving requirements of a saved model: the versions this process runs."""
    from importlib.metadata import version

    names = ["scikit-learn", "pandas", "numpy", "skops", *estimator_libraries(model)]
    return [f"{name}=={version(name)}" for name in names]


def flavor_options(features: pd.DataFrame, predictions: Any, model: Any = None) -> dict[str, Any]:
    """Keyword arguments shared by `save_model` and `log_model` for a scikit-learn pipeline."""
    from mlflow.models import infer_signature

    from kfp_ct.core.estimators import SKOPS_TRUSTED_TYPES, estimator_name

    name = estimator_name(model) if model is not None else None
    return {
        "signature": infer_signature(features, predictions),
        "pip_requirements": pip_requirements(model),
        "metadata": {ESTIMATOR_METADATA: name} if name else None,
        "serialization_format": "skops",
        "skops_trusted_types": SKOPS_TRUSTED_TYPES,
    }


def save_model(model: Any, model_dir: Path, features: pd.DataFrame, predictions: Any) -> Path:
    """Save a fitted pipeline to `model_dir` in MLflow format."""
    import mlflow.sklearn

    mlflow.sklearn.save_model(model, str(model_dir), **flavor_options(features, predictions, model))
    return Path(model_dir)


def log_model(model: Any, features: pd.DataFrame, predictions: Any) -> str:
    """Log a fitted pipeline to the active run; return its `models:/m-<id>` URI."""
    import mlflow.sklearn

    info = mlflow.sklearn.log_model(
        model, name="model", input_example=features.head(3), **flavor_options(features, predictions, model)
    )
    return info.model_uri


def load_model(model_dir: Path) -> Any:
    """Load a model saved in MLflow format (by `save_model` or downloaded from the registry)."""
    import mlflow.sklearn

    return mlflow.sklearn.load_model(str(model_dir))


def estimator_of(model_dir: Path) -> str | None:
    """The estimator name recorded in a saved model's MLmodel file (None for older models)."""
    from mlflow.models import Model as MlflowModel

    if not (Path(model_dir) / "MLmodel").is_file():
        return None
    return (MlflowModel.load(str(model_dir)).metadata or {}).get(ESTIMATOR_METADATA)


def model_features(model: Any, fallback: list[str]) -> list[str]:
    """The input columns a fitted pipeline was trained on (`fallback` when it does not say)."""
    return list(getattr(model, "feature_names_in_", fallback))


def signature_columns(model_dir: Path) -> list[tuple[str, str]]:
    """(name, MLflow type name) of each input column in a saved model's signature."""
    from mlflow.models import Model as MlflowModel

    signature = MlflowModel.load(str(model_dir)).signature
    if signature is None:
        raise ValueError(f"{model_dir}: the MLflow model has no signature; log it with one")
    return [
        (col.name, str(col.type.name if hasattr(col.type, "name") else col.type))
        for col in signature.inputs.inputs
    ]


def download_artifact(uri: str, dst: Path | None = None) -> Path:
    """Download an artifact URI (s3://, gs://, runs:/, https://...) through MLflow."""
    import mlflow.artifacts

    return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dst) if dst else None))


def copy_logged_model(model_uri: str, model_dir: Path) -> Path:
    """Copy the files of a logged model (`models:/m-<id>`) to `model_dir`: no second serialization."""
    with tempfile.TemporaryDirectory(prefix="kfp-ct-model-") as scratch:
        shutil.copytree(download_artifact(model_uri, Path(scratch)), model_dir, dirs_exist_ok=True)
    return Path(model_dir)


def load_version(ref: registry.VersionRef) -> Any:
    """Download a registered version to a scratch directory and load it fully into memory."""
    with tempfile.TemporaryDirectory(prefix="kfp-ct-model-") as scratch:
        return load_model(registry.download(ref.name, ref.version, Path(scratch)))


def recorded_metrics(ref: registry.VersionRef) -> dict[str, float]:
    """The metrics recorded as tags on a registered version at registration."""
    return {
        k.removeprefix(lineage.METRIC_TAG_PREFIX): float(v)
        for k, v in ref.tags.items()
        if k.startswith(lineage.METRIC_TAG_PREFIX)
    }


def load_champion(model_name: str) -> tuple[registry.VersionRef | None, Any]:
    """The champion's version and its model in memory, or (None, None) when there is none."""
    ref = registry.by_alias(model_name, lineage.CHAMPION) if model_name else None
    return (None, None) if ref is None else (ref, load_version(ref))
