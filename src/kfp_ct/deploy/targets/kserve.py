"""The `kserve` deploy target: serve a registered model version from an InferenceService."""

from __future__ import annotations

import copy
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kfp_ct import lineage, settings
from kfp_ct.cluster import inferenceservice as isvc
from kfp_ct.cluster.profiles import BUILTIN_PROFILES, HardwareProfile, load_profile
from kfp_ct.cluster.rollout import SERVICE_URL_TEMPLATE, Rollout, RolloutSettings, service_url
from kfp_ct.deploy.base import DeployRequest, DeployResult
from kfp_ct.errors import ClusterError, ParameterError

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

    def captured_as(self, model_name: str) -> str:
        """The served model name (KServe names the model after its InferenceService)."""
        return self.isvc_name(model_name)

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
        if cfg.runtime == "kfp-ct":  # the version the server names in answers, metrics and capture
            predictor = isvc.with_env(predictor, settings.MODEL_VERSION_ENV, str(request.model_version))
        return isvc.build_inferenceservice(
            self.isvc_name(request.model_name), cfg.namespace, predictor, cfg.mode,
            lineage_values(request),
        )  # fmt: skip

    def deploy(self, request: DeployRequest) -> DeployResult:
        """Check RBAC, resolve storage, roll out with canary steps; DeployError after rollback."""
        desired, storage_uri, smoke = self._prepare(request)
        name = desired["metadata"]["name"]
        cfg = self.config
        result = self._rollout(desired, smoke, cfg.canary_steps, request).run()
        return DeployResult(endpoint=result.endpoint, detail=self._detail(name, storage_uri, result))

    # -- progressive delivery (deploy.base.ProgressiveTarget; the bake itself is deploy.bake) -----
    def start_canary(self, request: DeployRequest, percent: int) -> DeployResult:
        """Write `request`'s version as a canary taking `percent`% beside the serving one.

        Knative: `canaryTrafficPercent` (KServe splits traffic). Standard: `spec.canary`, its own
        Deployment and Service; KServe v0.20.0 routes no traffic to it (docs/deploy-kserve.md).
        Smoke-tested on the canary's own Service; any failure restores the previous spec.
        """
        desired, storage_uri, smoke = self._prepare(request)
        name = desired["metadata"]["name"]
        result = self._rollout(desired, smoke, (), request).start_canary(percent)
        if self.config.mode == "Standard":
            log.warning(
                "%s: Standard-mode canary %s%% runs beside the predictor; KServe v0.20.0 weights no "
                "traffic to it (Gateway API HTTPRoutes, later KServe only)", name, percent,
            )  # fmt: skip
        detail = self._detail(name, storage_uri, result)
        detail.update(canary_percent=str(percent), canary_endpoint=result.endpoint)
        detail["traffic_weighted"] = str(self.config.mode == "Knative").lower()  # v0.20.0 Standard: no
        return DeployResult(self._endpoint(name) or result.endpoint, detail)

    def start_shadow(self, request: DeployRequest) -> DeployResult:
        """Serve `request`'s version as InferenceService `<isvc>-shadow` and mirror the champion to it.

        The shadow (env `KFP_CT_SHADOW_OF`: the champion's model) is created and smoke-tested
        first; then the champion's predictor gets `KFP_CT_SHADOW_URL` (the shadow's in-cluster V2
        infer URL) and rolls out with readiness only. A failure of either removes the shadow and
        leaves the champion as it was.
        """
        from kfp_ct.cluster.kube import InferenceServices

        cfg = self.config
        if cfg.runtime != "kfp-ct":
            raise ParameterError(
                f"rollout=shadow needs runtime 'kfp-ct' (its server mirrors requests), not '{cfg.runtime}'"
            )
        desired, storage_uri, smoke = self._prepare(request)
        name = desired["metadata"]["name"]
        services = InferenceServices(self.api_client, cfg.namespace)
        champion = services.get(name)
        if champion is None:
            raise ClusterError(
                f"InferenceService {cfg.namespace}/{name} does not exist: a shadow needs a champion"
            )
        if isvc.canary_service(champion) is not None:
            raise ClusterError(f"InferenceService {cfg.namespace}/{name} runs a canary: conclude it first")
        shadow = isvc.shadow_name(name)
        desired["metadata"]["name"] = shadow
        desired["metadata"]["labels"][isvc.SHADOW_OF] = name
        predictor = desired["spec"]["predictor"]
        desired["spec"]["predictor"] = isvc.with_env(predictor, isvc.SHADOW_OF_ENV, name)
        shadow_result = self._rollout(desired, smoke, (), request).run()
        url = isvc.shadow_infer_url(desired)
        mirrored = copy.deepcopy(champion)
        mirrored["spec"]["predictor"] = isvc.with_env(champion["spec"]["predictor"], isvc.SHADOW_URL_ENV, url)
        try:
            result = self._rollout(mirrored, _no_smoke, (), None).run()
        except Exception:
            services.delete(shadow)
            raise
        detail = self._detail(name, storage_uri, result)
        detail.update(
            shadow=f"{cfg.namespace}/{shadow}", shadow_url=url, shadow_endpoint=shadow_result.endpoint
        )
        return DeployResult(result.endpoint, detail)

    def conclude(self, model_name: str, version: str, promote: bool) -> DeployResult:
        """End the canary or shadow of `version`: promote it, or serve the champion alone again.

        Shadow: promote makes the shadow's predictor the champion's; either way the mirror URL goes
        and `<isvc>-shadow` is deleted. Canary: promote moves it into the predictor; rollback
        restores the spec kept when it started (Knative pins traffic at 0% first).
        Readiness only: the smoke test ran when the version started serving.
        """
        from kfp_ct.cluster.kube import InferenceServices

        cfg, name = self.config, self.isvc_name(model_name)
        services = InferenceServices(self.api_client, cfg.namespace)
        current = services.get(name)
        if current is None:
            raise ClusterError(f"InferenceService {cfg.namespace}/{name} does not exist; nothing to conclude")
        shadow = services.get(isvc.shadow_name(name))
        if shadow is not None and _version_of(shadow) == str(version):
            predictor = current["spec"]["predictor"]
            values = None
            if promote:
                predictor, values = shadow["spec"]["predictor"], isvc.lineage_of(shadow)
                predictor = isvc.with_env(predictor, isvc.SHADOW_OF_ENV, None)
            desired = isvc.replaced(current, isvc.with_env(predictor, isvc.SHADOW_URL_ENV, None), values)
            result = self._rollout(desired, _no_smoke, (), None).run()
            services.delete(isvc.shadow_name(name))
            what = "shadow"
        elif isvc.canary_service(current) is not None and _version_of(current) == str(version):
            result = self._rollout(current, _no_smoke, (), None).conclude_canary(promote)
            what = "canary"
        else:
            raise ClusterError(
                f"InferenceService {cfg.namespace}/{name} runs no canary or shadow of version {version}"
            )
        serving = _version_of(services.get(name) or current)
        log.info(
            "%s: %s v%s %s; v%s serves", name, what, version, "promoted" if promote else "ended", serving
        )
        detail = {"inferenceservice": f"{cfg.namespace}/{name}", "concluded": what, "serving": serving,
                  "promoted": str(promote).lower(), "steps": "; ".join(result.steps)}  # fmt: skip
        return DeployResult(result.endpoint, detail)

    def _prepare(self, request: DeployRequest) -> tuple[dict[str, Any], str, Callable[[str], None]]:
        """RBAC and runtime checks, the storage URI, the desired InferenceService and its smoke test."""
        from kfp_ct.cluster import rbac
        from kfp_ct.deploy.smoke import run_smoke_test

        cfg = self.config
        if cfg.check_rbac:
            rbac.check_permissions(self.api_client, cfg.namespace)
        isvc.check_runtime_loads(cfg.runtime, _estimator(request))  # before anything is written
        storage_uri = self.storage_uri(request)
        desired = self.build(request, storage_uri)

        def smoke(base_url: str) -> None:
            if request.smoke is not None:
                run_smoke_test(base_url, desired["metadata"]["name"], request.smoke)

        return desired, storage_uri, smoke

    def _rollout(
        self, desired: dict[str, Any], smoke: Callable[[str], None], steps: tuple[int, ...],
        request: DeployRequest | None,
    ) -> Rollout:  # fmt: skip
        from kfp_ct.cluster.kube import InferenceServices

        cfg = self.config
        return Rollout(
            InferenceServices(self.api_client, cfg.namespace),
            desired,
            smoke,
            steps,
            RolloutSettings(cfg.readiness_timeout_s, cfg.poll_interval_s, cfg.service_url_template),
            model_version=str(request.model_version) if request is not None else "",
        )

    def _detail(self, name: str, storage_uri: str, result: Any) -> dict[str, str]:
        cfg = self.config
        return {
            "inferenceservice": f"{cfg.namespace}/{name}",
            "mode": cfg.mode,
            "runtime": cfg.runtime,
            "profile": cfg.profile.name,
            "storage_uri": storage_uri,
            "generation": str(result.generation),
            "created": str(result.created).lower(),
            "steps": "; ".join(result.steps),
        }

    def _endpoint(self, name: str) -> str | None:
        from kfp_ct.cluster.kube import InferenceServices

        found = InferenceServices(self.api_client, self.config.namespace).get(name)
        if found is None:
            return None
        settings = RolloutSettings(service_url_template=self.config.service_url_template)
        return service_url(isvc.predictor_service(found), self.config.namespace, settings)

    def stop(self, model_name: str) -> None:
        """Delete `model_name`'s InferenceService and its shadow (missing ones are not an error)."""
        from kfp_ct.cluster.kube import InferenceServices

        services = InferenceServices(self.api_client, self.config.namespace)
        name = self.isvc_name(model_name)
        for found in (name, isvc.shadow_name(name)):
            if services.get(found) is not None:
                services.delete(found)

    def current_endpoint(self, model_name: str) -> str | None:
        """The serving predictor's URL for `model_name`, if its InferenceService exists."""
        return self._endpoint(self.isvc_name(model_name))


def _no_smoke(base_url: str) -> None:
    """Readiness only: a champion that only changes where it mirrors, or a version already tested."""


def _version_of(found: dict[str, Any]) -> str:
    return (found["metadata"].get("labels") or {}).get(lineage.K8S_MODEL_VERSION, "")


def _estimator(request: DeployRequest) -> str | None:
    """The estimator of the model being deployed (None without its files): runtime and GPU choices."""
    if request.model_dir is None:
        return None
    from kfp_ct.tracking.models import estimator_of

    return estimator_of(request.model_dir)
