"""The InferenceService links the served version's model card in an annotation (a URI is no label)."""

from kfp_ct import lineage
from kfp_ct.cluster.inferenceservice import lineage_metadata
from kfp_ct.deploy.base import DeployRequest
from kfp_ct.deploy.targets.kserve import lineage_values

CARD = "s3://mlflow/1/abc/artifacts/model_card/model_card.md"


def test_the_model_card_uri_is_an_annotation_of_the_inferenceservice():
    tags = {lineage.MODEL_CARD: CARD, lineage.DATA_HASH: "h"}
    request = DeployRequest("churn", "4", "models:/churn/4", None, None, lineage=tags)
    values = lineage_values(request)
    assert values[lineage.K8S_MODEL_CARD] == CARD
    labels, annotations = lineage_metadata(values)
    assert annotations[lineage.K8S_MODEL_CARD] == CARD and lineage.K8S_MODEL_CARD not in labels
