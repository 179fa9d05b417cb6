"""The `kserve` deploy target: serve a registered model version from an InferenceService."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kfp_ct import lineage
from kfp_ct.cluster import inferenceservice as isvc
from kfp_ct.cluster.profiles import BUILTIN_PROFILES, HardwareProfile, load_profile
from kfp_ct.cluster.rollout import SERVICE_URL_TEMPLATE, Rollout, RolloutSettings, service_url
from kfp_ct.deploy.base import DeployRequest, DeployResult
from kfp_ct.errors import ParameterError

log = logging.getLogger(__name__)

NAMESPACE_ENV = "KFP_CT_SERVING_NAMESPACE"
PROFILE_ENV = "KFP_CT_HARDWARE_PROFILE"  # the cluster's default serving profile (kfp-ct-config)
DEFAULT_NAMESPACE = "kfp-ct"
# request.lineage may use tag names or label keys; both map to the InferenceService keys.
_LINEAGE_ALIASES = {
    lineage.PIPELINE_RUN_ID: lineage.K8S_PIPELINE_RUN_ID,
    lineage.DATA_HASH: lineage.K8S_DATA_HASH,
    lineage.DECISION: lineage.K8S_DECISION,
    lineage.MODEL_CARD: lineage.K8S_MODEL_CARD,
    "mlflow_run_id": lineage.K8S_MLFLOW_RUN_ID,
    "run_id": lineage.K8S_MLFLOW_RUN_ID,
}
STORAGE_URI_KEY = "storage_uri"  # optional request.lineage entry: skip the MLflow lookup


def parse_canary_steps(value: str | list[int] | tuple[int, ...] | None) -> tuple[int, ...]:
    """Parse `"10,50,100"`, `"[10, 50, 100]"`, `""` or a list into rising percents 1..100."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        text = value.strip()
        try:
            items = json.loads(text) if text.startswith("[") else text.split(",")
            steps = tuple(int(str(v).strip()) for v in items if str(v).strip())
        except (ValueError, TypeError):
            raise ParameterError(
                f"canary_steps '{value}' is not a list of percents such as 10,50,100"
            ) from None
    else:
        steps = tuple(int(v) for v in value)
    if any(not 0 < p <= 100 for p in steps) or list(steps) != sorted(set(steps)):
        raise ParameterError(f"canary_steps {list(steps)} must rise strictly within 1..100, e.g. 10,50,100")
    return steps


@dataclass(frozen=True)
class KServeConfig:
    """Where and how the `kserve` target deploys."""

    namespace: str = DEFAULT_NAMESPACE
    mode: str = "Standard"
    runtime: str = "kfp-ct"
    profile: HardwareProfile = field(default_factory=lambda: BUILTIN_PROFILES["cpu"])
    canary_steps: tuple[int, ...] = ()
    readiness_timeout_s: float = 600.0
    poll_interval_s: float = 5.0
    service_account: str = isvc.DEFAULT_SERVICE_ACCOUNT
    isvc_name: str | None = None
    artifacts_destination: str | None = None
    service_url_template: str = SERVICE_URL_TEMPLATE
    check_rbac: bool = True
    kubeconfig: str | None = None

    def __post_init__(self) -> None:
        isvc.check_mode(self.mode)
        isvc.get_runtime(self.runtime)
        if self.readiness_timeout_s <= 0:
            raise ParameterError("readiness_timeout_s must be positive")

    @classmethod
    def from_params(
        cls,
        namespace: str = "",
        mode: str = "Standard",
        runtime: str = "kfp-ct",
        profile: str = "cpu",
        canary_steps: str = "",
        readiness_timeout_s: float = 600.0,
        service_account: str = isvc.DEFAULT_SERVICE_ACCOUNT,
        gpu_limits: str = "",
        isvc_name: str = "",
        poll_interval_s: float = 5.0,
    ) -> KServeConfig:
        """Build from pipeline parameters (plain strings); empty strings mean defaults.

        Args:
            namespace: Serving namespace; default $KFP_CT_SERVING_NAMESPACE or `kfp-ct`.
            mode: `Standard` or `Knative`.
            runtime: `kfp-ct`, `kserve-mlserver` or `kserve-sklearnserver`.
            profile: Hardware profile name or YAML path; default $KFP_CT_HARDWARE_PROFILE or `cpu`.
            canary_steps: e.g. `10,50,100` or `[10, 50]`; empty: update in place.
            readiness_timeout_s: Seconds to wait for each step to be ready.
            service_account: ServiceAccount that pulls the model (S3 secret annotated).
            gpu_limits: `true`/`false` overrides the profile's GPU limits; empty keeps it.
            isvc_name: InferenceService name; empty: derived from the model name.
            poll_interval_s: Seconds between readiness polls.
        """
        limits = {"": None, "true": True, "false": False}.get(str(gpu_limits).strip().lower(), "?")
        if limits == "?":
            raise ParameterError(f"gpu_limits must be true, false or empty, got '{gpu_limits}'")
        return cls(
            namespace=namespace or os.environ.get(NAMESPACE_ENV) or DEFAULT_NAMESPACE,
            mode=mode or "Standard",
            runtime=runtime or "kfp-ct",
            profile=load_profile(profile or os.environ.get(PROFILE_ENV) or "cpu", gpu_limits=limits),  # type: ignore[arg-type]
            canary_steps=parse_canary_steps(canary_steps),
            readiness_timeout_s=float(readiness_timeout_s),
            service_account=service_account or isvc.DEFAULT_SERVICE_ACCOUNT,
            isvc_name=isvc_name or None,
            poll_interval_s=float(poll_interval_s),
        )


def lineage_values(request: DeployRequest) -> dict[str, str]:
    """InferenceService lineage (label/annotation key -> value) for a deploy request."""
    values = {
        lineage.K8S_MODEL_NAME: request.model_name,
        lineage.K8S_MODEL_VERSION: str(request.model_version),
    }
    for key, value in request.lineage.items():
        target = _LINEAGE_ALIASES.get(key, key)
        if target.startswith(lineage.K8S_PREFIX) and value not in (None, ""):
            values[target] = str(value)
    return values


class KServeTarget:
    """Deploy target `kserve`: one InferenceService per registered model (docs/deploy-kserve.md)."""

    name = "kserve"

    def __init__(
        self,
        config: KServeConfig,
        api_client: Any | None = None,
        storage_uri_for: Callable[[DeployRequest], str] | None = None,
    ) -> None:
        """Create the target.

        Args:
            config: Namespace, mode, runtime, profile, canary steps, timeouts.
            api_client: A `kubernetes.client.ApiClient`; default in-cluster, then kubeconfig.
            storage_uri_for: Override how a request's storage URI is found (default: MLflow).
        """
        self.config = config
        self._api_client = api_client
        self._storage_uri_for = storage_uri_for

    @property
    def api_client(self) -> Any:
        """The Kubernetes API client (loaded on first use)."""
        if self._api_client is None:
            from kfp_ct.cluster.kube import load_api_client

            self._api_client = load_api_client(self.config.kubeconfig)
        return self._api_client

    def isvc_name(self, model_name: str) -> str:
        """The InferenceService name for `model_name`."""
        return isvc.check_isvc_name(self.config.isvc_name or isvc.isvc_name(model_name))

    def storage_uri(self, request: DeployRequest) -> str:
        """Where KServe pulls the model from (never models:/ or mlflow-artifacts:)."""
        if self._storage_uri_for is not None:
            return self._storage_uri_for(request)
        from kfp_ct.cluster import storage

        if request.lineage.get(STORAGE_URI_KEY):
            return storage.check_pullable(request.lineage[STORAGE_URI_KEY])
        if self.config.runtime == "kserve-sklearnserver":
            from kfp_ct.deploy.targets.kserve_sklearnserver import publish_joblib_model

            return publish_joblib_model(request, self.config.artifacts_destination)
        return storage.resolve_storage_uri(
            request.model_name, str(request.model_version), self.config.artifacts_destination
        )

    def build(self, request: DeployRequest, storage_uri: str) -> dict[str, Any]:
        """The InferenceService this target wants serving `request` (first-deploy form)."""
        cfg = self.config
        predictor = isvc.predictor_spec(
            storage_uri, cfg.runtime, cfg.profile, cfg.service_account, estimator=_estimator(request)
        )
        return isvc.build_inferenceservice(
            self.isvc_name(request.model_name), cfg.namespace, predictor, cfg.mode,
            lineage_values(request),
        )  # fmt: skip

    def deploy(self, request: DeployRequest) -> DeployResult:
        """Check RBAC, resolve storage, roll out with canary steps; DeployError after rollback."""
        from kfp_ct.cluster import rbac
        from kfp_ct.cluster.kube import InferenceServices
        from kfp_ct.deploy.smoke import run_smoke_test

        cfg = self.config
        if cfg.check_rbac:
            rbac.check_permissions(self.api_client, cfg.namespace)
        isvc.check_runtime_loads(cfg.runtime, _estimator(request))  # before anything is written
        storage_uri = self.storage_uri(request)
        desired = self.build(request, storage_uri)
        name = desired["metadata"]["name"]

        def smoke(base_url: str) -> None:
            if request.smoke is not None:
                run_smoke_test(base_url, name, request.smoke)

        rollout = Rollout(
            InferenceServices(self.api_client, cfg.namespace),
            desired,
            smoke,
            cfg.canary_steps,
            RolloutSettings(cfg.readiness_timeout_s, cfg.poll_interval_s, cfg.service_url_template),
            model_version=str(request.model_version),
        )
        result = rollout.run()
        return DeployResult(
            endpoint=result.endpoint,
            detail={
                "inferenceservice": f"{cfg.namespace}/{name}",
                "mode": cfg.mode,
                "runtime": cfg.runtime,
                "profile": cfg.profile.name,
                "storage_uri": storage_uri,
                "generation": str(result.generation),
                "created": str(result.created).lower(),
                "steps": "; ".join(result.steps),
            },
        )

    def stop(self, model_name: str) -> None:
        """Delete `model_name`'s InferenceService (a missing one is not an error)."""
        from kfp_ct.cluster.kube import InferenceServices

        services = InferenceServices(self.api_client, self.config.namespace)
        name = self.isvc_name(model_name)
        if services.get(name) is not None:
            services.delete(name)

    def current_endpoint(self, model_name: str) -> str | None:
        """The serving predictor's URL for `model_name`, if its InferenceService exists."""
        from kfp_ct.cluster.kube import InferenceServices

        found = InferenceServices(self.api_client, self.config.namespace).get(self.isvc_name(model_name))
        if found is None:
            return None
        settings = RolloutSettings(service_url_template=self.config.service_url_template)
        return service_url(isvc.predictor_service(found), self.config.namespace, settings)


def _estimator(request: DeployRequest) -> str | None:
    """The estimator of the model being deployed (None without its files): runtime and GPU choices."""
    if request.model_dir is None:
        return None
    from kfp_ct.tracking.models import estimator_of

    return estimator_of(request.model_dir)
