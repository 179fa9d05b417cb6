"""The pipelines, by name, and compiling them to KFP IR YAML."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kfp_ct.errors import ParameterError


def _builders() -> dict[str, Callable]:
    from kfp_ct.pipelines import continuous_training

    return {continuous_training.NAME: continuous_training.build}


def names() -> list[str]:
    """Names of the pipelines this package ships."""
    return sorted(_builders())


def get_pipeline(name: str, hook: Callable | None = None):
    """The pipeline function called `name`, built with an optional per-task hook."""
    builders = _builders()
    if name not in builders:
        raise ParameterError(f"unknown pipeline '{name}'; choose one of {sorted(builders)}")
    return builders[name](hook) if hook else builders[name]()


def compile_pipeline(name: str, out_path: Path, profile: str | None = None) -> Path:
    """Compile pipeline `name` to IR YAML at `out_path` (a hardware profile applies to train)."""
    from kfp import compiler

    hook = None
    if profile:
        from kfp_ct.cluster.profiles import load_profile, training_hook

        hook = training_hook(load_profile(profile))
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(get_pipeline(name, hook), str(out_path))
    return out_path
