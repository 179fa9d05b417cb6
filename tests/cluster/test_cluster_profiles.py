"""Hardware profiles and their compiled form on a tiny pipeline of our own."""

# No `from __future__ import annotations`: kfp reads component annotations as types.

import textwrap

import pytest
import yaml

from kfp_ct.cluster.profiles import container_resources, load_profile, predictor_fields
from kfp_ct.errors import ClusterError


def test_builtin_profiles():
    cpu, gpu, kind = load_profile("cpu"), load_profile("gpu"), load_profile("kind-gpu")
    assert predictor_fields(cpu) == {} and container_resources(cpu) == {}
    assert gpu.node_selector == {"pool": "gpu"} and gpu.requests_gpus
    assert container_resources(gpu) == {
        "requests": {"nvidia.com/gpu": "1"},
        "limits": {"nvidia.com/gpu": "1"},
    }
    assert kind.node_selector == gpu.node_selector and kind.tolerations == gpu.tolerations
    assert not kind.requests_gpus and container_resources(kind) == {}
    assert not load_profile("gpu", gpu_limits=False).requests_gpus


def test_profile_from_file(tmp_path):
    path = tmp_path / "a100.yaml"
    path.write_text(
        textwrap.dedent(
            """
            node_selector: {pool: gpu, gpu-type: a100}
            tolerations:
              - {key: dedicated, operator: Equal, value: ml, effect: NoExecute}
            gpus: 2
            memory: 16Gi
            """
        )
    )
    profile = load_profile(str(path))
    assert profile.name == "a100"
    assert profile.accelerator == "nvidia.com/gpu" and profile.gpus == 2
    assert predictor_fields(profile)["tolerations"] == [
        {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoExecute"}
    ]
    assert container_resources(profile)["limits"] == {"memory": "16Gi", "nvidia.com/gpu": "2"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("gpus: 3", "gpus must be one of"),
        ("node_selecter: {pool: gpu}", "unknown keys"),
        ("tolerations: [{operator: Exists}]", "needs at least a 'key'"),
        ("tolerations: [{key: a, operator: Exists, value: b}]", "operator Exists"),
        ("tolerations: [{key: a, effect: Sometimes}]", "effect in"),
        ("[1, 2]", "a profile is a mapping"),
    ],
)
def test_bad_profile_files(tmp_path, content, message):
    path = tmp_path / "p.yaml"
    path.write_text(content)
    with pytest.raises(ClusterError, match=message):
        load_profile(path)


def test_unknown_profile_name():
    with pytest.raises(ClusterError, match=r"unknown hardware profile 'tpu'.*cpu"):
        load_profile("tpu")


def _compile(tmp_path, profile_name: str) -> dict:
    from kfp import compiler, dsl

    from kfp_ct.cluster.task_settings import apply_cluster_env, apply_training_profile

    @dsl.component(base_image="python:3.11")
    def train(x: int) -> int:
        return x + 1

    @dsl.component(base_image="python:3.11")
    def report(x: int) -> int:
        return x

    @dsl.pipeline(name="tiny")
    def tiny(x: int = 1):
        trained = train(x=x)
        apply_training_profile(trained, load_profile(profile_name))
        apply_cluster_env(trained)
        report(x=trained.output)

    out = tmp_path / f"{profile_name}.yaml"
    compiler.Compiler().compile(tiny, str(out))
    docs = list(yaml.safe_load_all(out.read_text()))
    return {"pipeline": docs[0], "platform": docs[1] if len(docs) > 1 else {}}


def test_compiled_gpu_profile_carries_accelerator_selector_tolerations(tmp_path):
    compiled = _compile(tmp_path, "gpu")
    executors = compiled["platform"]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    train = executors["exec-train"]
    assert train["nodeSelector"] == {"labels": {"pool": "gpu"}}
    assert train["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    config_env = {e["envVar"] for c in train["configMapAsEnv"] for e in c["keyToEnv"]}
    assert {"MLFLOW_TRACKING_URI", "KFP_CT_MLFLOW_ARTIFACTS_DESTINATION"} <= config_env
    assert {c["configMapName"] for c in train["configMapAsEnv"]} == {"kfp-ct-config"}
    secret_env = {e["envVar"] for s in train["secretAsEnv"] for e in s["keyToEnv"]}
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= secret_env
    assert "exec-report" not in executors  # only the task the profile was applied to
    resources = compiled["pipeline"]["deploymentSpec"]["executors"]["exec-train"]["container"]["resources"]
    assert resources["accelerator"]["resourceType"] == "nvidia.com/gpu"
    assert str(resources["accelerator"]["resourceCount"]) == "1"


def test_compiled_kind_gpu_profile_schedules_without_device_limits(tmp_path):
    compiled = _compile(tmp_path, "kind-gpu")
    executors = compiled["platform"]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert executors["exec-train"]["nodeSelector"] == {"labels": {"pool": "gpu"}}
    container = compiled["pipeline"]["deploymentSpec"]["executors"]["exec-train"]["container"]
    assert "accelerator" not in container.get("resources", {})


def test_compiled_cpu_profile_has_no_selectors(tmp_path):
    compiled = _compile(tmp_path, "cpu")
    executors = compiled["platform"]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert "nodeSelector" not in executors["exec-train"]
    assert "tolerations" not in executors["exec-train"]
