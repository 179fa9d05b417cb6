"""Build InferenceService objects (plain dicts) for every mode, runtime, profile and canary step.

Pure functions: nothing here talks to a cluster. `rollout` applies what these return, and
`kfp-ct render inferenceservice` prints it for GitOps users.

GPU profiles: a predictor asks for the profile's GPUs only when its runtime can use one for the
model's estimator (`Runtime.gpu_estimators`; none of the runtimes below can: kfp-ct scores XGBoost
on the CPU). Otherwise it keeps the profile's node selector and tolerations, requests no device,
and says why in the predictor annotation `kfp-ct.io/gpu`. A model whose estimator is not known
keeps the profile's request as it is.

Canary, by mode (KServe v0.20):
  Knative   `spec.predictor.canaryTrafficPercent: P` with the new model in `spec.predictor`;
            KServe splits traffic with the last rolled-out revision. Promote: drop the field.
  Standard  `spec.canary: [{trafficPercent: P, predictor: {name, model}}]` beside the serving
            `spec.predictor`; the canary runs as Deployment/Service `<isvc>-<name>-predictor`.
            Promote: the canary predictor becomes `spec.predictor`, `spec.canary` goes.
"""

from __future__ import annotations

import copy
import logging
import re
from dataclasses import dataclass, replace
from typing import Any

from kfp_ct import lineage, settings
from kfp_ct.cluster.profiles import (
    BUILTIN_PROFILES,
    HardwareProfile,
    container_resources,
    predictor_fields,
)
from kfp_ct.errors import ClusterError

log = logging.getLogger(__name__)

API_VERSION = "serving.kserve.io/v1beta1"
KIND = "InferenceService"
GROUP, VERSION, PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"
MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
TAG_ROUTING_ANNOTATION = "serving.kserve.io/enable-tag-routing"
MODES = ("Standard", "Knative")
DEFAULT_SERVICE_ACCOUNT = "kfp-ct-storage"
CONTAINER_NAME = "kserve-container"
MANAGED_BY = {"app.kubernetes.io/managed-by": "kfp-ct"}
_DNS_MAX = 63
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")
_DNS_LABEL = re.compile(r"^[a-z]([a-z0-9-]*[a-z0-9])?$")
GPU_ANNOTATION = lineage.K8S_PREFIX + "gpu"  # on spec.predictor: why no GPU was requested
# Pod label of every predictor the kfp-ct runtime serves: the PodMonitor selects it (/metrics).
SERVER_POD_LABEL = {lineage.K8S_PREFIX + "server": "kfp-ct"}


@dataclass(frozen=True)
class Runtime:
    """A ServingRuntime an InferenceService can name, and the model format it loads."""

    name: str
    model_format: str
    format_version: str
    protocol: str
    note: str
    gpu_estimators: frozenset[str] = frozenset()  # estimators it predicts with on a GPU
    gpu_note: str = "it predicts on the CPU"  # why not, for the others
    loads: frozenset[str] | None = None  # estimators its image can load; None: every one


# What KServe's stock images can unpickle: scikit-learn's own estimators. XGBoost models are a
# kfp_ct subclass and LightGBM is not installed there, so only the project's runtime serves them.
SKLEARN_ONLY = frozenset(
    {"logistic_regression", "ridge", "linear_regression", "decision_tree", "random_forest",
     "hist_gradient_boosting", "dummy"}
)  # fmt: skip

RUNTIMES: dict[str, Runtime] = {
    "kfp-ct": Runtime(
        "kfp-ct", "mlflow", "3", "v2",
        "the project's own runtime: same image and server code as deploy target 'local'",
        gpu_note="it predicts on the CPU (XGBoost models are saved with device=cpu; small requests "
        "are faster there)",
    ),
    "kserve-mlserver": Runtime(
        "kserve-mlserver", "mlflow", "2", "v2",
        "MLServer 1.5 mlflow runtime (v2 only); loading MLflow 3 models is unverified",
        gpu_note="its mlflow runtime predicts on the CPU",
        loads=SKLEARN_ONLY,
    ),
    "kserve-sklearnserver": Runtime(
        "kserve-sklearnserver", "sklearn", "1", "v2",
        "loads one model.joblib (scikit-learn ~1.5): kfp-ct writes it to a separate prefix",
        gpu_note="scikit-learn predicts on the CPU",
        loads=SKLEARN_ONLY,
    ),
}  # fmt: skip


def check_mode(mode: str) -> str:
    """Return `mode` if it is a KServe deployment mode; else raise naming the choices."""
    if mode not in MODES:
        raise ClusterError(f"unknown deployment mode '{mode}'; use one of {', '.join(MODES)}")
    return mode


def get_runtime(name: str) -> Runtime:
    """Return a known runtime by name; else raise naming the choices."""
    if name not in RUNTIMES:
        raise ClusterError(f"unknown serving runtime '{name}'; use one of {', '.join(RUNTIMES)}")
    return RUNTIMES[name]


def check_runtime_loads(runtime: str, estimator: str | None) -> None:
    """Raise, naming the runtime to use, when `runtime`'s image cannot load `estimator`'s model."""
    rt = get_runtime(runtime)
    if estimator is not None and rt.loads is not None and estimator not in rt.loads:
        raise ClusterError(
            f"runtime '{runtime}' cannot load a '{estimator}' model (its image serves only "
            f"scikit-learn estimators: {', '.join(sorted(rt.loads))}); deploy it with runtime 'kfp-ct'"
        )


def isvc_name(model_name: str) -> str:
    """A DNS-1035 name for the InferenceService serving `model_name` (lowercase, <= 40 chars)."""
    name = re.sub(r"[^a-z0-9-]+", "-", model_name.lower()).strip("-")
    name = re.sub(r"-{2,}", "-", name)
    if not name or not name[0].isalpha():
        name = f"m-{name}".rstrip("-")
    # Leave room for '-<canary>-predictor' (KServe's Deployment/Service names are <= 63 chars).
    return name[:40].rstrip("-")


def check_isvc_name(name: str) -> str:
    """Return `name` if it is a valid InferenceService name; else raise saying why."""
    if not _DNS_LABEL.match(name) or len(name) > 45:
        raise ClusterError(
            f"InferenceService name '{name}' must be a DNS-1035 label (lowercase letters, "
            "digits, '-', starting with a letter) of at most 45 characters"
        )
    return name


def canary_name(model_version: str, taken: str | None = None) -> str:
    """Name of the Standard-mode canary predictor for a model version (`v<version>`)."""
    name = "v" + re.sub(r"[^a-z0-9-]+", "-", str(model_version).lower()).strip("-")
    return f"{name}-canary" if name == taken else name


def lineage_metadata(values: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Split lineage values into labels (valid label values only) and annotations (all)."""
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    for key, value in values.items():
        if value is None or value == "":
            continue
        annotations[key] = str(value)
        if _LABEL_VALUE.match(str(value)):
            labels[key] = str(value)
    return labels, annotations


def serving_gpus(profile: HardwareProfile, runtime: str, estimator: str | None) -> tuple[bool, str]:
    """Whether a predictor asks for the profile's GPUs, and why not when it does not.

    Args:
        profile: The serving hardware profile.
        runtime: The ServingRuntime name.
        estimator: The model's estimator (`kfp_ct.core.estimators` name); None when unknown.
    """
    if not profile.requests_gpus:
        return False, ""
    rt = get_runtime(runtime)
    if estimator is None or estimator in rt.gpu_estimators:
        return True, ""
    return False, (
        f"no {profile.accelerator} requested: runtime '{rt.name}' cannot use a GPU for "
        f"estimator '{estimator}': {rt.gpu_note}; the predictor still runs on the '{profile.name}' pool"
    )


def model_spec(
    storage_uri: str, runtime: str, profile: HardwareProfile, estimator: str | None = None
) -> dict[str, Any]:
    """`predictor.model`: format, runtime, protocol, storage URI and the profile's resources."""
    rt = get_runtime(runtime)
    if not serving_gpus(profile, runtime, estimator)[0]:
        profile = replace(profile, gpu_limits=False)
    model: dict[str, Any] = {
        "modelFormat": {"name": rt.model_format, "version": rt.format_version},
        "runtime": rt.name,
        "protocolVersion": rt.protocol,
        "storageUri": storage_uri,
    }
    resources = container_resources(profile)
    if resources:
        model["resources"] = resources
    return model


def predictor_spec(
    storage_uri: str,
    runtime: str = "kfp-ct",
    profile: HardwareProfile | None = None,
    service_account: str = DEFAULT_SERVICE_ACCOUNT,
    name: str | None = None,
    estimator: str | None = None,
) -> dict[str, Any]:
    """A `spec.predictor` (or canary predictor) for one model version.

    Args:
        storage_uri: Where KServe pulls the model from.
        runtime: A `RUNTIMES` name.
        profile: Hardware profile (default `cpu`).
        service_account: ServiceAccount with the storage secret.
        name: Standard-mode canary predictor name.
        estimator: The model's estimator, when known: decides whether GPUs are requested.
    """
    profile = profile or BUILTIN_PROFILES["cpu"]
    predictor: dict[str, Any] = {}
    if name:
        predictor["name"] = name
    if service_account:
        predictor["serviceAccountName"] = service_account
    predictor.update(predictor_fields(profile))
    check_runtime_loads(runtime, estimator)
    _, why_not = serving_gpus(profile, runtime, estimator)
    if why_not:
        log.warning("%s", why_not)
        predictor["annotations"] = {GPU_ANNOTATION: why_not}
    if runtime == "kfp-ct":
        predictor["labels"] = dict(SERVER_POD_LABEL)
    predictor["model"] = model_spec(storage_uri, runtime, profile, estimator)
    return predictor


def build_inferenceservice(
    name: str,
    namespace: str,
    predictor: dict[str, Any],
    mode: str = "Standard",
    lineage_values: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A whole InferenceService serving `predictor`, with mode annotation and lineage."""
    check_mode(mode)
    check_isvc_name(name)
    labels, annotations = lineage_metadata(lineage_values or {})
    annotations[MODE_ANNOTATION] = mode
    if mode == "Knative":
        # Tag routing gives the canary revision its own URL (`latest-<isvc>-predictor`).
        annotations[TAG_ROUTING_ANNOTATION] = "true"
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {**MANAGED_BY, **labels},
            "annotations": annotations,
        },
        "spec": {"predictor": copy.deepcopy(predictor)},
    }


def with_canary(
    current: dict[str, Any],
    predictor: dict[str, Any],
    percent: int,
    canary: str,
    lineage_values: dict[str, str] | None = None,
) -> dict[str, Any]:
    """`current` with `predictor` as a canary taking `percent`% of traffic (mode-aware).

    Args:
        current: The serving InferenceService (spec and metadata are reused).
        predictor: The new model's predictor (from `predictor_spec`).
        percent: Canary traffic, 1..99.
        canary: Standard-mode canary predictor name (see `canary_name`).
        lineage_values: Lineage of the new version (replaces the old lineage metadata).
    """
    if not 0 < percent < 100:
        raise ClusterError(f"canary traffic must be between 1 and 99 percent, got {percent}")
    mode = mode_of(current)
    out = _with_lineage(current, lineage_values)
    spec = out["spec"]
    if mode == "Knative":
        spec["predictor"] = {**copy.deepcopy(predictor), "canaryTrafficPercent": percent}
        spec.pop("canary", None)
    else:
        spec["predictor"].pop("canaryTrafficPercent", None)
        canary_predictor = {**copy.deepcopy(predictor), "name": canary}
        # The v0.20 CRD requires the container name on canary models (KServe's default name).
        canary_predictor["model"].setdefault("name", CONTAINER_NAME)
        spec["canary"] = [{"trafficPercent": percent, "predictor": canary_predictor}]
    return out


def promoted(current: dict[str, Any]) -> dict[str, Any]:
    """`current` with its canary taking all traffic and becoming the serving predictor."""
    out = copy.deepcopy(current)
    spec = out["spec"]
    if mode_of(current) == "Knative":
        spec["predictor"].pop("canaryTrafficPercent", None)
    elif spec.get("canary"):
        spec["predictor"] = spec.pop("canary")[0]["predictor"]
    spec.pop("canary", None)
    return out


def replaced(
    current: dict[str, Any], predictor: dict[str, Any], lineage_values: dict[str, str] | None
) -> dict[str, Any]:
    """`current` serving `predictor` directly (no canary): an in-place update."""
    out = _with_lineage(current, lineage_values)
    out["spec"]["predictor"] = copy.deepcopy(predictor)
    out["spec"].pop("canary", None)
    return out


def mode_of(isvc: dict[str, Any]) -> str:
    """The deployment mode annotated on an InferenceService (`Standard` when absent)."""
    annotations = isvc.get("metadata", {}).get("annotations") or {}
    mode = annotations.get(MODE_ANNOTATION, "Standard")
    return {"RawDeployment": "Standard", "Serverless": "Knative"}.get(mode, mode)


def predictor_service(isvc: dict[str, Any]) -> str:
    """The Service of the serving predictor: `<isvc>-predictor` or `<isvc>-<name>-predictor`."""
    name = isvc["metadata"]["name"]
    pred_name = isvc["spec"]["predictor"].get("name")
    return f"{name}-{pred_name}-predictor" if pred_name else f"{name}-predictor"


def canary_service(isvc: dict[str, Any]) -> str | None:
    """The Service that reaches only the canary, or None without a canary.

    Standard: the canary predictor's own Service `<isvc>-<canary>-predictor`.
    Knative: the `latest` traffic tag of the predictor route, `latest-<isvc>-predictor`.
    """
    name = isvc["metadata"]["name"]
    spec = isvc["spec"]
    if mode_of(isvc) == "Knative":
        if spec["predictor"].get("canaryTrafficPercent") is None:
            return None
        return f"latest-{name}-predictor"
    if not spec.get("canary"):
        return None
    service = f"{name}-{spec['canary'][0]['predictor']['name']}-predictor"
    if len(service) > _DNS_MAX:
        raise ClusterError(f"canary Service name '{service}' is longer than 63 characters")
    return service


def _with_lineage(current: dict[str, Any], values: dict[str, str] | None) -> dict[str, Any]:
    out = copy.deepcopy(current)
    if values is None:
        return out
    meta = out.setdefault("metadata", {})
    old_labels = meta.get("labels") or {}
    old_annotations = meta.get("annotations") or {}
    labels, annotations = lineage_metadata(values)
    meta["labels"] = {
        **{k: v for k, v in old_labels.items() if not k.startswith(lineage.K8S_PREFIX)},
        **labels,
    }
    meta["annotations"] = {
        **{k: v for k, v in old_annotations.items() if not k.startswith(lineage.K8S_PREFIX)},
        **annotations,
    }
    return out


# -- shadow ---------------------------------------------------------------------------------------
# A shadow runs as its own InferenceService `<isvc>-shadow` (KServe names its model the same).
# The champion's kfp-ct server reads SHADOW_URL_ENV, the shadow's V2 infer URL, and posts a copy
# of each answered request there (same request id) after answering; the shadow's server reads
# SHADOW_OF_ENV, the champion's model name, and captures under it with role `shadow`.
SHADOW_URL_ENV = settings.SHADOW_URL_ENV
SHADOW_OF_ENV = settings.SHADOW_OF_ENV
SHADOW_OF = lineage.K8S_PREFIX + "shadow-of"  # label on the shadow InferenceService: its champion
# Annotation on an InferenceService with a canary: the spec and lineage to restore on rollback.
ROLLBACK_TO = lineage.K8S_PREFIX + "rollback-to"
_SHADOW_SUFFIX = "-shadow"


def shadow_name(name: str) -> str:
    """The shadow InferenceService of `name` (`<name>-shadow`, within the 45-character limit)."""
    return check_isvc_name(name[: 45 - len(_SHADOW_SUFFIX)].rstrip("-") + _SHADOW_SUFFIX)


def with_env(predictor: dict[str, Any], name: str, value: str | None) -> dict[str, Any]:
    """`predictor` with model container env `name` set to `value` (None: removed)."""
    out = copy.deepcopy(predictor)
    model = out["model"]
    env = [e for e in model.get("env") or [] if e.get("name") != name]
    if value is not None:
        env.append({"name": name, "value": value})
    if env:
        model["env"] = env
    else:
        model.pop("env", None)
    return out


def shadow_infer_url(shadow: dict[str, Any]) -> str:
    """The in-cluster V2 infer URL of a shadow InferenceService (what SHADOW_URL_ENV holds)."""
    name, namespace = shadow["metadata"]["name"], shadow["metadata"]["namespace"]
    return f"http://{predictor_service(shadow)}.{namespace}.svc.cluster.local/v2/models/{name}/infer"


def shadow_url(isvc: dict[str, Any]) -> str | None:
    """The shadow URL the champion's server mirrors to, or None."""
    for item in isvc["spec"]["predictor"]["model"].get("env") or []:
        if item.get("name") == SHADOW_URL_ENV:
            return item.get("value")
    return None


def lineage_of(isvc: dict[str, Any]) -> dict[str, str]:
    """The kfp-ct lineage (label/annotation key -> value) an InferenceService carries."""
    meta = isvc.get("metadata", {})
    found = {**(meta.get("labels") or {}), **(meta.get("annotations") or {})}
    return {
        k: v
        for k, v in found.items()
        if k.startswith(lineage.K8S_PREFIX) and k not in (SHADOW_OF, ROLLBACK_TO)
    }
