"""GPU serving profile: the predictor asks for the GPU only when its runtime can use it for the model."""

from __future__ import annotations

import argparse
import dataclasses

import yaml

from kfp_ct.cli import render
from kfp_ct.cluster import inferenceservice as isvc
from kfp_ct.cluster.profiles import BUILTIN_PROFILES

GPU = BUILTIN_PROFILES["gpu"]


def test_an_xgboost_model_on_the_gpu_profile_requests_no_gpu_and_says_why(isvc_validator):
    pred = isvc.predictor_spec("s3://b/m", "kfp-ct", GPU, estimator="xgboost")
    assert pred["nodeSelector"] == {"pool": "gpu"} and pred["tolerations"]  # still on the GPU pool
    assert "nvidia.com/gpu" not in pred["model"].get("resources", {}).get("limits", {})
    why = pred["annotations"][isvc.GPU_ANNOTATION]
    assert "runtime 'kfp-ct' cannot use a GPU for estimator 'xgboost'" in why and "CPU" in why
    obj = isvc.build_inferenceservice("churn", "ns", pred, "Standard")
    isvc_validator(obj)
    isvc_validator(isvc.with_canary(obj, pred, 10, "v2"))


def test_a_runtime_that_can_use_the_gpu_gets_it(monkeypatch):
    gpu_runtime = dataclasses.replace(isvc.RUNTIMES["kfp-ct"], gpu_estimators=frozenset({"xgboost"}))
    monkeypatch.setitem(isvc.RUNTIMES, "kfp-ct", gpu_runtime)
    pred = isvc.predictor_spec("s3://b/m", "kfp-ct", GPU, estimator="xgboost")
    assert pred["model"]["resources"]["limits"] == {"nvidia.com/gpu": "1"} and "annotations" not in pred
    assert isvc.serving_gpus(GPU, "kfp-ct", "random_forest")[0] is False


def test_unknown_estimators_and_cpu_profiles_are_as_before():
    unknown = isvc.predictor_spec("s3://b/m", "kfp-ct", GPU)
    assert unknown["model"]["resources"]["limits"] == {"nvidia.com/gpu": "1"} and "annotations" not in unknown
    cpu = isvc.predictor_spec("s3://b/m", "kfp-ct", BUILTIN_PROFILES["cpu"], estimator="xgboost")
    assert "annotations" not in cpu and "resources" not in cpu["model"]
    kind = isvc.predictor_spec("s3://b/m", "kfp-ct", BUILTIN_PROFILES["kind-gpu"], estimator="xgboost")
    assert "annotations" not in kind  # kind's pool never requests devices: nothing was left out


def test_render_prints_the_reason(isvc_validator):
    parser = argparse.ArgumentParser()
    render.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["render", "isvc", "--name", "churn", "--storage-uri", "s3://b/m/2", "--profile", "gpu",
         "--estimator", "xgboost"]
    )  # fmt: skip
    obj = yaml.safe_load(render.render_isvc_yaml(args))
    isvc_validator(obj)
    predictor = obj["spec"]["predictor"]
    assert "cannot use a GPU" in predictor["annotations"][isvc.GPU_ANNOTATION]
    assert "resources" not in predictor["model"]


def test_the_kserve_target_reads_the_estimator_from_the_model(tmp_path):
    from kfp_ct.core.schema import infer_schema
    from kfp_ct.core.train import train_model
    from kfp_ct.data.synth import SynthSpec, make_dataset
    from kfp_ct.deploy.base import DeployRequest
    from kfp_ct.deploy.targets.kserve import KServeConfig, KServeTarget
    from kfp_ct.tracking import models

    frame = make_dataset(SynthSpec(rows=200, seed=1))
    result = train_model(frame, infer_schema(frame, "label", "binary"), "xgboost", {"n_estimators": 5}, 0)
    x = frame[result.features]
    models.save_model(result.model, tmp_path / "m", x, result.model.predict(x))
    assert models.estimator_of(tmp_path / "m") == "xgboost"
    target = KServeTarget(KServeConfig(profile=GPU))
    request = DeployRequest("churn", "2", "models:/churn/2", tmp_path / "m", None)
    predictor = target.build(request, "s3://b/m/2")["spec"]["predictor"]
    assert isvc.GPU_ANNOTATION in predictor["annotations"]
