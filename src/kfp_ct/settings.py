"""Where local state lives. Everything is read from the environment when asked, never at import.

- `KFP_CT_HOME` (default `./.kfp-ct`): MLflow store and artifacts, pipeline root, server state.
- `MLFLOW_TRACKING_URI` (default `sqlite:///$KFP_CT_HOME/mlflow.db`): tracking and registry store.
- `XDG_CACHE_HOME` (default `~/.cache`): `kfp-ct/` under it holds what any home can reuse.
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "KFP_CT_HOME"
TRACKING_ENV = "MLFLOW_TRACKING_URI"
# The project's server on a cluster (set on the InferenceService's model container):
MODEL_VERSION_ENV = "KFP_CT_MODEL_VERSION"  # the registered version --model_dir holds
SHADOW_URL_ENV = "KFP_CT_SHADOW_URL"  # a champion's: the shadow's V2 infer URL, to post copies to
SHADOW_OF_ENV = "KFP_CT_SHADOW_OF"  # a shadow's: the champion's model name, to capture under
DEFAULT_MODEL_NAME = "kfp-ct-model"
DEFAULT_EXPERIMENT = "kfp-ct"


def home() -> Path:
    """The local state directory (not created here)."""
    return Path(os.environ.get(HOME_ENV) or ".kfp-ct").resolve()


def tracking_uri() -> str:
    """The MLflow tracking URI: the environment's, else sqlite under the home directory."""
    return os.environ.get(TRACKING_ENV) or f"sqlite:///{home() / 'mlflow.db'}"


def artifact_root() -> Path:
    """Where a local (sqlite) store keeps model artifacts."""
    return home() / "mlartifacts"


def pipeline_root() -> Path:
    """Where kfp.local writes task outputs."""
    return home() / "pipeline-root"


def cache_dir() -> Path:
    """Per-user files shared by every home (e.g. an empty MLflow store per MLflow version)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kfp-ct"


def server_dir() -> Path:
    """Where the local model server keeps its pid, port, log and model copies."""
    return home() / "serving"
