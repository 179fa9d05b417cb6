"""Pipeline-task settings for a cluster: hardware profile and cluster config as env vars.

kfp.local ignores these; they land in the compiled YAML under
`platforms.kubernetes.deploymentSpec.executors` (node selector, tolerations, env from ConfigMap
and Secret) and in the task's container `resources` (accelerator type and count).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kfp_ct.cluster.profiles import HardwareProfile

if TYPE_CHECKING:
    from kfp.dsl import PipelineTask

CONFIG_MAP = "kfp-ct-config"
S3_SECRET = "kfp-ct-s3"
REQUIRED_CONFIG_KEYS = ("MLFLOW_TRACKING_URI",)
OPTIONAL_CONFIG_KEYS = (
    "MLFLOW_S3_ENDPOINT_URL",
    "KFP_CT_SERVING_NAMESPACE",
    "KFP_CT_MLFLOW_ARTIFACTS_DESTINATION",
    "KFP_CT_HARDWARE_PROFILE",
    "KFP_CT_CAPTURE_URI",  # monitor reads captured traffic there; deploy's bake reads live signals
    "KFP_CT_PUSHGATEWAY_URL",  # monitor pushes its PSI and live-metric gauges there (drift.gauges)
)
SECRET_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
OPTIONAL_SECRET_KEYS = ("AWS_DEFAULT_REGION",)


def apply_training_profile(task: PipelineTask, profile: HardwareProfile) -> PipelineTask:
    """Put `task` on the profile's node pool: node selector, tolerations, accelerator, cpu/mem."""
    from kfp import kubernetes

    for key, value in profile.node_selector.items():
        kubernetes.add_node_selector(task, label_key=key, label_value=value)
    for tol in profile.tolerations:
        kubernetes.add_toleration(
            task, key=tol.key, operator=tol.operator, value=tol.value, effect=tol.effect
        )
    if profile.requests_gpus:
        assert profile.accelerator is not None
        task.set_accelerator_type(profile.accelerator).set_accelerator_limit(profile.gpus)
    if profile.cpu:
        task.set_cpu_request(profile.cpu)
    if profile.memory:
        task.set_memory_request(profile.memory).set_memory_limit(profile.memory)
    return task


def apply_cluster_env(task: PipelineTask, s3: bool = True) -> PipelineTask:
    """Give `task` the cluster config (ConfigMap kfp-ct-config) and S3 keys (Secret kfp-ct-s3)."""
    from kfp import kubernetes

    kubernetes.use_config_map_as_env(task, CONFIG_MAP, {k: k for k in REQUIRED_CONFIG_KEYS})
    kubernetes.use_config_map_as_env(task, CONFIG_MAP, {k: k for k in OPTIONAL_CONFIG_KEYS}, optional=True)
    if s3:
        kubernetes.use_secret_as_env(task, S3_SECRET, {k: k for k in SECRET_KEYS})
        kubernetes.use_secret_as_env(task, S3_SECRET, {k: k for k in OPTIONAL_SECRET_KEYS}, optional=True)
    return task
