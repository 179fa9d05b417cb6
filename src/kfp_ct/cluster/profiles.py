"""Hardware profiles: where training tasks and predictors run (node pool, GPUs, tolerations).

A profile is a built-in name (`cpu`, `gpu`, `kind-gpu`) or a YAML file:

    name: a100
    node_selector: {pool: gpu, gpu-type: a100}
    tolerations:
      - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}
    accelerator: nvidia.com/gpu     # resource name of the device
    gpus: 1                         # per training task and per predictor
    gpu_limits: true                # false: schedule on the pool without requesting devices
    cpu: "2"                        # optional requests for training and serving
    memory: 8Gi

`gpu_limits: false` is for kind's simulated GPU pool (a label and a taint, no device plugin): a
pod that requests `nvidia.com/gpu` there stays Pending, so the profile selects and tolerates the
pool without asking for the device.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kfp_ct.errors import ClusterError

GPU_RESOURCE = "nvidia.com/gpu"
# kfp's set_accelerator_limit accepts only these counts in some versions.
ALLOWED_GPU_COUNTS = (0, 1, 2, 4, 8, 16)
_OPERATORS = ("Exists", "Equal")
_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
_KEYS = {
    "name",
    "node_selector",
    "tolerations",
    "accelerator",
    "gpus",
    "gpu_limits",
    "cpu",
    "memory",
}


@dataclass(frozen=True)
class Toleration:
    """A Kubernetes toleration."""

    key: str
    operator: str = "Exists"
    value: str | None = None
    effect: str | None = "NoSchedule"

    def to_k8s(self) -> dict[str, str]:
        """The toleration as it appears in a pod spec."""
        out = {"key": self.key, "operator": self.operator}
        if self.value is not None:
            out["value"] = self.value
        if self.effect is not None:
            out["effect"] = self.effect
        return out


@dataclass(frozen=True)
class HardwareProfile:
    """Scheduling and resources for training tasks and predictors."""

    name: str
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[Toleration, ...] = ()
    accelerator: str | None = None
    gpus: int = 0
    gpu_limits: bool = True
    cpu: str | None = None
    memory: str | None = None

    @property
    def requests_gpus(self) -> bool:
        """Whether pods under this profile request accelerator devices."""
        return bool(self.accelerator) and self.gpus > 0 and self.gpu_limits


_GPU_TOLERATION = Toleration(key=GPU_RESOURCE, operator="Exists", effect="NoSchedule")
BUILTIN_PROFILES: dict[str, HardwareProfile] = {
    "cpu": HardwareProfile(name="cpu"),
    "gpu": HardwareProfile(
        name="gpu",
        node_selector={"pool": "gpu"},
        tolerations=(_GPU_TOLERATION,),
        accelerator=GPU_RESOURCE,
        gpus=1,
    ),
}
BUILTIN_PROFILES["kind-gpu"] = replace(BUILTIN_PROFILES["gpu"], name="kind-gpu", gpu_limits=False)


def _toleration(raw: Any, where: str) -> Toleration:
    if not isinstance(raw, dict) or "key" not in raw:
        raise ClusterError(f"{where}: each toleration needs at least a 'key'")
    tol = Toleration(
        key=str(raw["key"]),
        operator=str(raw.get("operator", "Exists")),
        value=None if raw.get("value") is None else str(raw["value"]),
        effect=None if raw.get("effect", "NoSchedule") is None else str(raw.get("effect", "NoSchedule")),
    )
    if tol.operator not in _OPERATORS or (tol.effect is not None and tol.effect not in _EFFECTS):
        raise ClusterError(
            f"{where}: toleration {raw} needs operator in {_OPERATORS} and effect in {_EFFECTS}"
        )
    if tol.operator == "Exists" and tol.value is not None:
        raise ClusterError(f"{where}: toleration {raw} has a value but operator Exists")
    return tol


def profile_from_dict(raw: dict[str, Any], where: str = "profile") -> HardwareProfile:
    """Build and check a profile from its YAML/dict form."""
    if not isinstance(raw, dict):
        raise ClusterError(f"{where}: a profile is a mapping with keys {sorted(_KEYS)}")
    unknown = set(raw) - _KEYS
    if unknown:
        raise ClusterError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(_KEYS)}")
    selector = raw.get("node_selector") or {}
    if not isinstance(selector, dict):
        raise ClusterError(f"{where}: node_selector must be a mapping of label -> value")
    gpus = raw.get("gpus", 0)
    if not isinstance(gpus, int) or isinstance(gpus, bool) or gpus not in ALLOWED_GPU_COUNTS:
        raise ClusterError(f"{where}: gpus must be one of {ALLOWED_GPU_COUNTS}, got {gpus!r}")
    accelerator = raw.get("accelerator") or (GPU_RESOURCE if gpus else None)
    return HardwareProfile(
        name=str(raw.get("name") or where),
        node_selector={str(k): str(v) for k, v in selector.items()},
        tolerations=tuple(_toleration(t, where) for t in raw.get("tolerations") or ()),
        accelerator=accelerator,
        gpus=gpus,
        gpu_limits=bool(raw.get("gpu_limits", True)),
        cpu=None if raw.get("cpu") is None else str(raw["cpu"]),
        memory=None if raw.get("memory") is None else str(raw["memory"]),
    )


def load_profile(name_or_path: str | Path, gpu_limits: bool | None = None) -> HardwareProfile:
    """Return a built-in profile by name or load one from a YAML file.

    Args:
        name_or_path: `cpu`, `gpu`, `kind-gpu`, or a path to a YAML profile.
        gpu_limits: Override the profile's `gpu_limits` (False for kind's simulated pool).
    """
    key = str(name_or_path)
    if key in BUILTIN_PROFILES:
        profile = BUILTIN_PROFILES[key]
    else:
        path = Path(key)
        if not path.is_file():
            raise ClusterError(
                f"unknown hardware profile '{key}': use one of {sorted(BUILTIN_PROFILES)} or "
                "the path of a YAML profile file (see docs/deploy-kserve.md)"
            )
        import yaml

        try:
            raw = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise ClusterError(f"profile file {path} is not valid YAML: {exc}") from None
        profile = profile_from_dict(raw if raw is not None else {}, where=str(path))
        if profile.name == str(path):
            profile = replace(profile, name=path.stem)
    if gpu_limits is not None:
        profile = replace(profile, gpu_limits=gpu_limits)
    return profile


def predictor_fields(profile: HardwareProfile) -> dict[str, Any]:
    """The `spec.predictor` fields a profile sets: nodeSelector, tolerations (no resources)."""
    fields: dict[str, Any] = {}
    if profile.node_selector:
        fields["nodeSelector"] = dict(profile.node_selector)
    if profile.tolerations:
        fields["tolerations"] = [t.to_k8s() for t in profile.tolerations]
    return fields


def container_resources(profile: HardwareProfile) -> dict[str, dict[str, str]]:
    """The container `resources` a profile asks for (GPU limits only when `gpu_limits`)."""
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    if profile.cpu:
        requests["cpu"] = profile.cpu
    if profile.memory:
        requests["memory"] = limits["memory"] = profile.memory
    if profile.requests_gpus:
        assert profile.accelerator is not None
        limits[profile.accelerator] = str(profile.gpus)
        requests[profile.accelerator] = str(profile.gpus)
    out: dict[str, dict[str, str]] = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out
