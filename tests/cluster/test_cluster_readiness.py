"""Readiness judgement from InferenceService status, and the target's parameters."""

# ruff: noqa: E501  (the status table reads best one case per line)

from __future__ import annotations

import argparse
import itertools

import pytest
import yaml

from kfp_ct.cli import render
from kfp_ct.cluster.readiness import assess, wait_ready
from kfp_ct.deploy.targets.kserve import KServeConfig, parse_canary_steps
from kfp_ct.errors import ClusterError, ModelLoadFailed, ParameterError, ReadinessTimeout


def obj(status=None):
    return {"metadata": {"generation": 3}, "status": status or {}}


READY = [{"type": "Ready", "status": "True"}, {"type": "PredictorReady", "status": "True"}]
UP = {"transitionStatus": "UpToDate"}


@pytest.mark.parametrize(
    ("status", "canary", "ready", "failed", "detail"),
    [
        ({}, None, False, False, "observedGeneration None"),
        ({"observedGeneration": 2, "conditions": READY, "modelStatus": UP}, None, False, False, "< 3"),
        ({"observedGeneration": 3, "conditions": READY, "modelStatus": UP}, None, True, False, "ready"),
        ({"observedGeneration": 3, "conditions": READY}, None, True, False, "ready"),
        ({"observedGeneration": 3, "conditions": [*READY[:1], {"type": "PredictorReady", "status": "False", "reason": "Pending"}]}, None, False, False, "PredictorReady"),
        ({"observedGeneration": 3, "conditions": READY, "modelStatus": {"transitionStatus": "InProgress"}}, None, False, False, "InProgress"),
        ({"observedGeneration": 3, "conditions": [{"type": "Ready", "status": "False", "reason": "X", "message": "m"}]}, None, False, False, "X: m"),
        ({"observedGeneration": 3, "modelStatus": {"transitionStatus": "BlockedByFailedLoad", "lastFailureInfo": {"reason": "ModelLoadFailed", "message": "boom"}}}, None, False, True, "boom"),
        ({"observedGeneration": 3, "modelStatus": {"transitionStatus": "InvalidSpec"}}, None, False, True, "InvalidSpec"),
        ({"observedGeneration": 3, "modelStatus": {"transitionStatus": "InProgress", "states": {"activeModelState": "FailedToLoad"}}}, None, False, True, "FailedToLoad"),
        # a failure reported for an older generation is not this spec's failure
        ({"observedGeneration": 2, "modelStatus": {"transitionStatus": "BlockedByFailedLoad"}}, None, False, False, "< 3"),
        ({"observedGeneration": 3, "conditions": READY, "modelStatus": UP}, "v2", False, False, "CanaryPredictorReady"),
        ({"observedGeneration": 3, "conditions": [*READY, {"type": "CanaryPredictorReady", "status": "True"}], "modelStatus": UP, "canaryStatuses": [{"name": "v2", "ready": False, "trafficPercent": 10}]}, "v2", False, False, "not ready"),
        ({"observedGeneration": 3, "conditions": [*READY, {"type": "CanaryPredictorReady", "status": "True"}], "modelStatus": UP, "canaryStatuses": [{"name": "v2", "ready": True, "trafficPercent": 10}]}, "v2", True, False, "ready"),
        ({"observedGeneration": 3, "conditions": READY, "modelStatus": UP, "canaryStatuses": [{"name": "v2", "ready": False, "trafficPercent": 10, "modelStatus": {"transitionStatus": "BlockedByFailedLoad"}}]}, "v2", False, True, "canary 'v2'"),
    ],
)  # fmt: skip
def test_assess(status, canary, ready, failed, detail):
    got = assess(obj(status), 3, canary)
    assert (got.ready, got.failed) == (ready, failed)
    assert detail in got.detail


def test_wait_ready_walks_transitions():
    states = iter(
        [
            obj({"observedGeneration": 2}),
            obj({"observedGeneration": 3, "modelStatus": {"transitionStatus": "InProgress"}}),
            obj({"observedGeneration": 3, "conditions": READY, "modelStatus": UP}),
        ]
    )
    seen = []

    def get():
        seen.append(1)
        return next(states)

    assert wait_ready(get, 3, timeout_s=5, interval_s=0.001)["status"]["observedGeneration"] == 3
    assert len(seen) == 3


def test_wait_ready_fails_fast_and_times_out():
    failing = obj({"observedGeneration": 3, "modelStatus": {"transitionStatus": "BlockedByFailedLoad"}})
    with pytest.raises(ModelLoadFailed, match="BlockedByFailedLoad"):
        wait_ready(lambda: failing, 3, timeout_s=60, interval_s=0.001)
    counter = itertools.count()
    stale = obj({"observedGeneration": 1})
    with pytest.raises(ReadinessTimeout, match=r"not ready after 0.05 s.*readiness_timeout_s"):
        wait_ready(lambda: next(counter) is not None and stale, 3, timeout_s=0.05, interval_s=0.01)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", ()), ("10,50,100", (10, 50, 100)), ("[10, 50]", (10, 50)), ([25, 100], (25, 100))],
)
def test_canary_steps(value, expected):
    assert parse_canary_steps(value) == expected


@pytest.mark.parametrize("value", ["50,10", "0,50", "10,150", "ten", "10,10"])
def test_bad_canary_steps(value):
    with pytest.raises(ParameterError, match="canary_steps"):
        parse_canary_steps(value)


def test_config_from_params(monkeypatch):
    monkeypatch.setenv("KFP_CT_SERVING_NAMESPACE", "models")
    cfg = KServeConfig.from_params(
        mode="Knative", profile="gpu", canary_steps="10,50,100", readiness_timeout_s="900",
        gpu_limits="false",
    )  # fmt: skip
    assert cfg.namespace == "models" and cfg.mode == "Knative"
    assert cfg.canary_steps == (10, 50, 100) and cfg.readiness_timeout_s == 900.0
    assert cfg.profile.node_selector == {"pool": "gpu"} and not cfg.profile.requests_gpus
    with pytest.raises(ClusterError, match="deployment mode"):
        KServeConfig.from_params(mode="Serverless")
    with pytest.raises(ClusterError, match="serving runtime"):
        KServeConfig.from_params(runtime="triton")
    with pytest.raises(ParameterError, match="gpu_limits"):
        KServeConfig.from_params(gpu_limits="maybe")


def _render(argv):
    parser = argparse.ArgumentParser()
    render.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["render", *argv])
    return args, render.render_isvc_yaml(args)


@pytest.mark.parametrize(
    "extra",
    [
        [],
        ["--profile", "gpu", "--mode", "Knative", "--canary-percent", "10"],
        ["--profile", "kind-gpu", "--runtime", "kserve-mlserver", "--namespace", "models"],
        ["--mode", "Standard", "--canary-percent", "20", "--stable-storage-uri", "s3://b/m/1"],
        ["--profile", "gpu", "--no-gpu-limits", "--runtime", "kserve-sklearnserver"],
    ],
)
def test_render_cli_prints_valid_isvc(isvc_validator, extra, capsys):
    argv = ["inferenceservice", "--name", "churn", "--storage-uri", "s3://b/m/2", *extra]
    args, text = _render(argv)
    obj = yaml.safe_load(text)
    isvc_validator(obj)
    assert obj["metadata"]["name"] == "churn"
    assert obj["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == args.mode
    assert args.handler(args) == 0
    assert yaml.safe_load(capsys.readouterr().out) == obj


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--storage-uri", "models:/churn/2"], "MLflow reference"),
        (["--storage-uri", "s3://b/m", "--canary-percent", "10"], "--stable-storage-uri"),
        (["--storage-uri", "s3://b/m", "--profile", "tpu"], "unknown hardware profile"),
    ],
)
def test_render_cli_errors(argv, message):
    with pytest.raises(ClusterError, match=message):
        _render(["inferenceservice", "--name", "churn", *argv])
