"""Serving: one KServe model server over an MLflow scikit-learn model, locally and on a cluster.

`protocol` and `client` are light (no kserve import); `model` and `__main__` run in the server.
"""
