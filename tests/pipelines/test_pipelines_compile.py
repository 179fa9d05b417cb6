"""Every pipeline compiles to IR YAML that the KFP SDK loads back, in the one pinned image."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from kfp import components

from kfp_ct import __version__
from kfp_ct.errors import ParameterError
from kfp_ct.image import IMAGE
from kfp_ct.params import parse_params
from kfp_ct.pipelines import compile_pipeline, names, parameter_types

STEPS = {"validate", "train", "evaluate", "compare", "register", "deploy"}


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    out = tmp_path_factory.mktemp("yaml")
    cli = Path(sys.executable).parent / "kfp-ct"
    subprocess.run([str(cli), "compile", "--out", str(out)], check=True, capture_output=True)
    subprocess.run(
        [str(cli), "compile", "--out", str(out), "--profile", "gpu"], check=True, capture_output=True
    )
    return out


def test_every_pipeline_exists():
    assert names() == ["continuous-training", "monitoring", "retraining"]


@pytest.mark.parametrize("name", ["continuous-training", "retraining", "monitoring"])
def test_yaml_loads_back_with_the_sdk(compiled, name):
    path = compiled / f"{name}.yaml"
    loaded = components.load_component_from_file(str(path))
    assert loaded.name == name
    spec, platform = list(yaml.safe_load_all(path.read_text()))
    executors = spec["deploymentSpec"]["executors"]
    assert {e.removeprefix("exec-") for e in executors} >= STEPS
    for executor in executors.values():
        container = executor["container"]
        assert container["image"] == IMAGE and IMAGE.endswith(f":{__version__}")
        command = " ".join(container["command"])
        assert "pip install" not in command, "components must not install packages at run time"
    env = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert all("configMapAsEnv" in e and "secretAsEnv" in e for e in env.values())


def test_retraining_reuses_the_same_steps(compiled):
    ct = yaml.safe_load_all((compiled / "continuous-training.yaml").read_text())
    rt = yaml.safe_load_all((compiled / "retraining.yaml").read_text())
    ct_spec, rt_spec = next(ct), next(rt)
    for step in STEPS:
        assert (
            ct_spec["deploymentSpec"]["executors"][f"exec-{step}"]
            == rt_spec["deploymentSpec"]["executors"][f"exec-{step}"]
        )
    assert "exec-drift-check" in rt_spec["deploymentSpec"]["executors"]


def test_monitoring_reuses_the_retraining_steps(compiled):
    rt = next(yaml.safe_load_all((compiled / "retraining.yaml").read_text()))
    mon = next(yaml.safe_load_all((compiled / "monitoring.yaml").read_text()))
    for step in [*STEPS, "drift-check"]:
        assert (
            mon["deploymentSpec"]["executors"][f"exec-{step}"]
            == rt["deploymentSpec"]["executors"][f"exec-{step}"]
        )
    assert "exec-monitor" in mon["deploymentSpec"]["executors"]


def test_gpu_profile_on_training_task(compiled):
    spec, platform = list(yaml.safe_load_all((compiled / "continuous-training-gpu.yaml").read_text()))
    train = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-train"]
    assert train["nodeSelector"]["labels"] == {"pool": "gpu"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in train["tolerations"]
    resources = spec["deploymentSpec"]["executors"]["exec-train"]["container"]["resources"]
    assert resources["accelerator"]["resourceType"] == "nvidia.com/gpu"
    validate = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-validate"]
    assert "nodeSelector" not in validate


def test_params_are_typed_by_the_pipeline_signature():
    types = parameter_types("continuous-training")
    args = parse_params(
        ["n_bootstrap=200", "require_significance=false", "alpha=0.01", "estimator=dummy"],
        "continuous-training",
        types,
    )
    assert args == {"n_bootstrap": 200, "require_significance": False, "alpha": 0.01, "estimator": "dummy"}
    with pytest.raises(ParameterError, match="no such parameter"):
        parse_params(["colour=red"], "continuous-training", types)
    with pytest.raises(ParameterError, match="n_bootstrap"):
        parse_params(["n_bootstrap=lots"], "continuous-training", types)
    with pytest.raises(ParameterError, match="key=value"):
        parse_params(["novalue"], "continuous-training", types)


def test_unknown_pipeline_is_named(tmp_path):
    with pytest.raises(ParameterError, match="unknown pipeline 'nope'"):
        compile_pipeline("nope", tmp_path / "x.yaml")
