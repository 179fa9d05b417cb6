"""Deploy targets by name: `none`, `local` (a KServe model server here), `kserve` (a cluster)."""

from __future__ import annotations

from kfp_ct.deploy.base import DeployTarget
from kfp_ct.errors import ParameterError

TARGETS = ("none", "local", "kserve")


def make_target(name: str, **options) -> DeployTarget | None:
    """The target called `name` (`none` gives None: promote without serving)."""
    if name == "none":
        return None
    if name == "local":
        from kfp_ct.deploy.targets.local import LocalTarget

        return LocalTarget(port=options.get("port"))
    if name == "kserve":
        from kfp_ct.deploy.targets.kserve import KServeConfig, KServeTarget

        return KServeTarget(KServeConfig.from_params(**options))
    raise ParameterError(f"unknown deploy target '{name}'; choose one of {TARGETS}")
