"""Check, before touching anything, that we may manage InferenceServices in the namespace.

The pipeline's ServiceAccount (`system:serviceaccount:kubeflow:pipeline-runner`) gets exactly
these verbs from Role/RoleBinding `kfp-ct-deployer` in the serving namespace, shipped in
`manifests/base/`. A SelfSubjectAccessReview per verb asks the API server what we may do.
"""

from __future__ import annotations

from typing import Any

from kfp_ct.errors import ClusterError

GROUP = "serving.kserve.io"
RESOURCE = "inferenceservices"
REQUIRED_VERBS = ("get", "create", "update", "patch", "delete")
ROLE_NAME = "kfp-ct-deployer"
ROLE_FILE = "manifests/base/kfp-ct-deployer-role.yaml"
ROLEBINDING_FILE = "manifests/base/kfp-ct-deployer-rolebinding.yaml"
PIPELINE_SUBJECT = "system:serviceaccount:kubeflow:pipeline-runner"


def rbac_fix(namespace: str, missing: list[str] | tuple[str, ...] = REQUIRED_VERBS) -> str:
    """The message that names the missing permission and the RBAC that grants it."""
    return (
        f"the pipeline's ServiceAccount may not {'/'.join(missing)} "
        f"{RESOURCE}.{GROUP} in namespace '{namespace}'; apply Role and RoleBinding "
        f"'{ROLE_NAME}' ({ROLE_FILE}, {ROLEBINDING_FILE}, binding {PIPELINE_SUBJECT}): "
        f"kubectl apply -n {namespace} -f {ROLE_FILE} -f {ROLEBINDING_FILE}"
    )


def missing_verbs(api_client: Any, namespace: str) -> list[str]:
    """The verbs on InferenceServices in `namespace` that the current identity lacks."""
    from kubernetes import client

    api = client.AuthorizationV1Api(api_client)
    missing = []
    for verb in REQUIRED_VERBS:
        review = client.V1SelfSubjectAccessReview(
            spec=client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=client.V1ResourceAttributes(
                    group=GROUP, resource=RESOURCE, verb=verb, namespace=namespace
                )
            )
        )
        answer = api.create_self_subject_access_review(review)
        if not (answer.status and answer.status.allowed):
            missing.append(verb)
    return missing


def check_permissions(api_client: Any, namespace: str) -> None:
    """Raise ClusterError naming the RBAC to apply when any required verb is missing."""
    missing = missing_verbs(api_client, namespace)
    if missing:
        raise ClusterError(rbac_fix(namespace, missing))
