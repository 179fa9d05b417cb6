"""kfp-ct: continuous training for Kubeflow Pipelines, MLflow and KServe."""

__version__ = "0.1.0"
