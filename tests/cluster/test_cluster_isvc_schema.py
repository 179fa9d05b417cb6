"""Every InferenceService the code can emit validates against the KServe v0.20 CRD schema."""

from __future__ import annotations

import copy
import itertools

import pytest

from kfp_ct.cluster import inferenceservice as isvc
from kfp_ct.cluster.profiles import BUILTIN_PROFILES, profile_from_dict
from kfp_ct.errors import ClusterError

CUSTOM = profile_from_dict(
    {
        "name": "a100",
        "node_selector": {"pool": "gpu", "gpu-type": "a100"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ml"}],
        "gpus": 2,
        "cpu": "2",
        "memory": "8Gi",
    }
)
PROFILES = [*BUILTIN_PROFILES.values(), CUSTOM]
LINEAGE = {"kfp-ct.io/model-name": "churn", "kfp-ct.io/model-version": "3"}


def emitted(mode, runtime, profile, canary):
    """What rollout writes for one combination: first deploy, canary step, promotion."""
    old = isvc.predictor_spec("s3://b/m/1", runtime, profile)
    new = isvc.predictor_spec("s3://b/m/2", runtime, profile)
    first = isvc.build_inferenceservice("churn", "kfp-ct", old, mode, LINEAGE)
    if canary is None:
        return [first, isvc.replaced(first, new, LINEAGE)]
    step = isvc.with_canary(first, new, canary, isvc.canary_name("2"), LINEAGE)
    return [first, step, isvc.promoted(step)]


COMBOS = list(itertools.product(isvc.MODES, isvc.RUNTIMES, PROFILES, [None, 10, 50]))


@pytest.mark.parametrize(
    ("mode", "runtime", "profile", "canary"),
    COMBOS,
    ids=[f"{m}-{r}-{p.name}-{c}" for m, r, p, c in COMBOS],
)
def test_every_emitted_isvc_matches_the_crd(isvc_validator, mode, runtime, profile, canary):
    objects = emitted(mode, runtime, profile, canary)
    for obj in objects:
        isvc_validator(obj)
        assert obj["metadata"]["annotations"][isvc.MODE_ANNOTATION] == mode
        predictor = obj["spec"]["predictor"]
        assert predictor["model"]["runtime"] == runtime
        assert not predictor["model"]["storageUri"].startswith(("models:", "mlflow"))
        assert predictor.get("nodeSelector", {}) == profile.node_selector
        limits = predictor["model"].get("resources", {}).get("limits", {})
        assert ("nvidia.com/gpu" in limits) == profile.requests_gpus
    if canary is not None:
        step = objects[1]
        if mode == "Knative":
            assert step["spec"]["predictor"]["canaryTrafficPercent"] == canary
            assert "canary" not in step["spec"]
        else:
            assert step["spec"]["canary"][0]["trafficPercent"] == canary
            assert "canaryTrafficPercent" not in step["spec"]["predictor"]
        assert objects[2]["spec"]["predictor"]["model"]["storageUri"] == "s3://b/m/2"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda o: o["spec"]["predictor"].update(canaryTrafficPercent="ten"), "not of type"),
        (lambda o: o["spec"]["predictor"]["model"].update(storgeUri="s3://x"), "unknown field"),
        (lambda o: o["spec"].update(canary=[{"trafficPercent": 150}]), "150 is greater"),
        (
            lambda o: o["spec"]["predictor"]["model"]["modelFormat"].pop("name"),
            "'name' is a required",
        ),
    ],
)
def test_the_validator_rejects_bad_objects(isvc_validator, change, expected):
    obj = emitted("Standard", "kfp-ct", BUILTIN_PROFILES["gpu"], None)[0]
    bad = copy.deepcopy(obj)
    change(bad)
    with pytest.raises(AssertionError, match=expected):
        isvc_validator(bad)


def test_gpu_serving_fields():
    pred = isvc.predictor_spec("s3://b/m", "kfp-ct", BUILTIN_PROFILES["gpu"])
    assert pred["nodeSelector"] == {"pool": "gpu"}
    assert pred["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert pred["model"]["resources"]["limits"] == {"nvidia.com/gpu": "1"}
    kind = isvc.predictor_spec("s3://b/m", "kfp-ct", BUILTIN_PROFILES["kind-gpu"])
    assert kind["nodeSelector"] == {"pool": "gpu"} and "resources" not in kind["model"]


def test_services_and_names():
    first = isvc.build_inferenceservice("churn", "ns", isvc.predictor_spec("s3://b/1"), "Standard")
    assert isvc.predictor_service(first) == "churn-predictor"
    assert isvc.canary_service(first) is None
    step = isvc.with_canary(first, isvc.predictor_spec("s3://b/2"), 10, "v2")
    assert isvc.canary_service(step) == "churn-v2-predictor"
    assert isvc.predictor_service(isvc.promoted(step)) == "churn-v2-predictor"
    assert isvc.canary_name("2", taken="v2") == "v2-canary"
    kn = isvc.build_inferenceservice("churn", "ns", isvc.predictor_spec("s3://b/1"), "Knative")
    assert kn["metadata"]["annotations"][isvc.TAG_ROUTING_ANNOTATION] == "true"
    kn_step = isvc.with_canary(kn, isvc.predictor_spec("s3://b/2"), 10, "v2")
    assert isvc.canary_service(kn_step) == "latest-churn-predictor"
    assert isvc.isvc_name("Churn_Model v2") == "churn-model-v2"
    assert isvc.isvc_name("1st") == "m-1st"
    with pytest.raises(ClusterError, match="DNS-1035"):
        isvc.check_isvc_name("Bad_Name")
    with pytest.raises(ClusterError, match="Standard, Knative"):
        isvc.check_mode("Serverless")
    with pytest.raises(ClusterError, match="between 1 and 99"):
        isvc.with_canary(first, isvc.predictor_spec("s3://b/2"), 100, "v2")
