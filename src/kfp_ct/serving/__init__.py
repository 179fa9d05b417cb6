"""Serving: one KServe model server over MLflow scikit-learn models, locally and on a cluster.

Light (no kserve import), used by deploy and clients: `protocol` (V1/V2 codecs), `client`,
`spec` (what a server should serve under a model name). In the server: `model` (one version),
`router` (several versions under one name, and the policy that picks one per request),
`repository` (KServe's model repository over the specs: load, swap, drop), `rest` (the project's
V2 routes), `server` (KServe's ModelServer wired with them), `__main__` (the entry point).
"""
