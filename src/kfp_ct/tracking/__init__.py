"""The only package that imports MLflow: runs, models, the registry and history."""
