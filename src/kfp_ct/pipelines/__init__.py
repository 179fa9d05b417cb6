"""The pipelines, by name, and compiling them to KFP IR YAML."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path

from kfp_ct.errors import ParameterError


def _builders() -> dict[str, Callable]:
    from kfp_ct.pipelines import continuous_training, monitoring, retraining

    return {
        continuous_training.NAME: continuous_training.build,
        retraining.NAME: retraining.build,
        monitoring.NAME: monitoring.build,
    }


def names() -> list[str]:
    """Names of the pipelines this package ships."""
    return sorted(_builders())


def get_pipeline(name: str, hook: Callable | None = None):
    """The pipeline function called `name`, built with an optional per-task hook."""
    builders = _builders()
    if name not in builders:
        raise ParameterError(f"unknown pipeline '{name}'; choose one of {sorted(builders)}")
    return builders[name](hook) if hook else builders[name]()


def parameter_types(name: str) -> dict[str, type]:
    """Parameter name -> Python type of pipeline `name`, read from its signature."""
    func = get_pipeline(name).pipeline_func
    return {key: p.annotation for key, p in inspect.signature(func).parameters.items()}


def cluster_hook(profile: str | None = None) -> Callable:
    """Per-task platform settings for a cluster: config/secret env everywhere, the profile on train."""
    from kfp_ct.cluster.profiles import load_profile
    from kfp_ct.cluster.task_settings import apply_cluster_env, apply_training_profile

    hardware = load_profile(profile) if profile else None

    def hook(step: str, task) -> None:
        apply_cluster_env(task)
        if step == "train" and hardware is not None:
            apply_training_profile(task, hardware)
        if step == "notify":
            notify_env(task)

    return hook


def notify_env(task) -> None:
    """The notify task's optional webhook URL (Secret kfp-ct-notify, key url) and KFP UI base URL."""
    from kfp import kubernetes

    from kfp_ct.cluster.task_settings import CONFIG_MAP
    from kfp_ct.steps.notify import KFP_UI_ENV, SECRET, SECRET_KEY, URL_ENV

    kubernetes.use_secret_as_env(task, SECRET, {SECRET_KEY: URL_ENV}, optional=True)
    kubernetes.use_config_map_as_env(task, CONFIG_MAP, {KFP_UI_ENV: KFP_UI_ENV}, optional=True)


def compile_pipeline(name: str, out_path: Path, profile: str | None = None) -> Path:
    """Compile pipeline `name` to IR YAML at `out_path` for a cluster (profile: for training)."""
    from kfp import compiler

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(get_pipeline(name, cluster_hook(profile)), str(out_path))
    return out_path
