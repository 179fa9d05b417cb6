"""Names shared by every step: MLflow aliases, tag keys and Kubernetes label keys.

Lineage is written on the MLflow run, on the registered model version and on the
InferenceService, always under these names, so that any of them can be traced to the others.
"""

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS_CHAMPION = "previous-champion"
SHADOW = "shadow"  # the version a shadow rollout copies traffic to (champion does not move)
SHADOW_SINCE = "kfp_ct.shadow.since"  # when that version started receiving copies (ISO 8601)

TAG_PREFIX = "kfp_ct."
PIPELINE_RUN_ID = "kfp_ct.pipeline_run_id"
PIPELINE_NAME = "kfp_ct.pipeline"
DATA_HASH = "kfp_ct.data_hash"
DATA_URI = "kfp_ct.data_uri"
DECISION = "kfp_ct.decision"
DECISION_REASONS = "kfp_ct.decision_reasons"
TASK = "kfp_ct.task"
LABEL_COLUMN = "kfp_ct.label"
MODEL_SHA256 = "kfp_ct.model_sha256"
TRAINED_AT = "kfp_ct.trained_at"
DEPLOYED_AT = "kfp_ct.deployed_at"
ENDPOINT = "kfp_ct.endpoint"
METRIC_TAG_PREFIX = "kfp_ct.metric."
MODEL_CARD = "kfp_ct.model_card"  # artifact URI of the version's model card (Markdown; .json beside it)

# Kubernetes labels (values must be <= 63 chars) and annotations (free text) on InferenceServices.
K8S_PREFIX = "kfp-ct.io/"
K8S_MODEL_NAME = "kfp-ct.io/model-name"
K8S_MODEL_VERSION = "kfp-ct.io/model-version"
K8S_MLFLOW_RUN_ID = "kfp-ct.io/mlflow-run-id"
K8S_PIPELINE_RUN_ID = "kfp-ct.io/pipeline-run-id"
K8S_DATA_HASH = "kfp-ct.io/data-hash"
K8S_DECISION = "kfp-ct.io/decision"
K8S_METRICS = "kfp-ct.io/metrics"
K8S_MODEL_CARD = "kfp-ct.io/model-card"  # an annotation (a URI is no label value)
WINDOW_HASH = "kfp_ct.window_hash"
DRIFT_SHARE = "kfp_ct.drift_share"
MODEL_NAME = "kfp_ct.model_name"
