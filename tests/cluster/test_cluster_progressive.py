"""Canary and shadow on KServe (`KServeTarget.start_canary/start_shadow/conclude`) against DOUBLES.

The Kubernetes API server is the kmock DOUBLE of tests/cluster/conftest.py (it stores
InferenceServices and scripts KServe's status; no pods run and no traffic is split or mirrored);
predictor Services are a local V2 endpoint. Every object written is checked against the KServe
v0.20 CRD schema.
"""

from __future__ import annotations

import pytest

from kfp_ct import lineage, settings
from kfp_ct.cluster import inferenceservice as isvc
from kfp_ct.deploy.targets.kserve import KServeConfig, KServeTarget
from kfp_ct.errors import ClusterError, DeployError, ParameterError
from tests.cluster.test_cluster_rollout import NS, request, uri

NAME, SHADOW = "churn-model", "churn-model-shadow"
MODES = ["Standard", "Knative"]


def target(api, v2, mode="Standard", runtime="kfp-ct") -> KServeTarget:
    config = KServeConfig(namespace=NS, mode=mode, runtime=runtime, readiness_timeout_s=5.0,
                          poll_interval_s=0.01, service_url_template=v2.template)  # fmt: skip
    return KServeTarget(config, api_client=api, storage_uri_for=lambda r: uri(r.model_version))


def stored(state, name=NAME):
    return state.objects[(NS, name)]


def version_of(obj) -> str:
    return obj["metadata"]["labels"][lineage.K8S_MODEL_VERSION]


def env(obj) -> dict[str, str]:
    return {e["name"]: e["value"] for e in obj["spec"]["predictor"]["model"].get("env", [])}


def assert_all_valid(state, validator) -> None:
    for (_, _), obj in state.objects.items():
        validator(obj)
    for verb, spec in state.writes:
        if verb != "delete":
            validator(
                {"apiVersion": isvc.API_VERSION, "kind": isvc.KIND, "metadata": {"name": "x"}, "spec": spec}
            )


@pytest.mark.parametrize("mode", MODES)
def test_canary_then_promote(kube_double, v2_double, isvc_validator, mode):
    api, state = kube_double
    tgt = target(api, v2_double, mode)
    tgt.deploy(request("1"))

    started = tgt.start_canary(request("2"), 20)

    spec = stored(state)["spec"]
    if mode == "Knative":  # KServe splits 20% to the new revision, 80% to the last rolled-out one
        assert spec["predictor"]["canaryTrafficPercent"] == 20
        assert spec["predictor"]["model"]["storageUri"] == uri("2")
        canary_service = "latest-churn-model-predictor"
    else:  # the canary's own Deployment/Service beside the unchanged predictor
        assert spec["canary"][0]["trafficPercent"] == 20
        assert spec["canary"][0]["predictor"]["model"]["storageUri"] == uri("2")
        assert spec["predictor"]["model"]["storageUri"] == uri("1")
        canary_service = "churn-model-v2-predictor"
    assert v2_double.hits[-1] == canary_service  # smoke-tested on the canary alone
    assert started.detail["canary_percent"] == "20"
    assert started.detail["traffic_weighted"] == ("true" if mode == "Knative" else "false")
    assert started.detail["canary_endpoint"] == f"{v2_double.base}/{canary_service}"
    assert isvc.ROLLBACK_TO in stored(state)["metadata"]["annotations"]

    # Concluded by a fresh target object: nothing is remembered in the process.
    done = target(api, v2_double, mode).conclude("Churn_Model", "2", promote=True)

    final = stored(state)
    assert final["spec"]["predictor"]["model"]["storageUri"] == uri("2")
    assert "canary" not in final["spec"] and "canaryTrafficPercent" not in final["spec"]["predictor"]
    assert isvc.ROLLBACK_TO not in final["metadata"]["annotations"]
    assert version_of(final) == "2" and done.detail["serving"] == "2"
    assert done.detail["concluded"] == "canary" and done.detail["promoted"] == "true"
    assert_all_valid(state, isvc_validator)


@pytest.mark.parametrize("mode", MODES)
def test_canary_rolled_back_restores_the_champion(kube_double, v2_double, isvc_validator, mode):
    api, state = kube_double
    tgt = target(api, v2_double, mode)
    tgt.deploy(request("1"))
    before = stored(state)
    tgt.start_canary(request("2"), 20)
    writes_before = len(state.writes)

    done = target(api, v2_double, mode).conclude("Churn_Model", "2", promote=False)

    after = stored(state)
    assert after["spec"] == before["spec"]
    assert version_of(after) == "1" and done.detail["serving"] == "1"
    assert isvc.ROLLBACK_TO not in after["metadata"]["annotations"]
    verbs = [verb for verb, _ in state.writes[writes_before:]]
    if mode == "Knative":  # traffic pinned to the last rolled-out revision first, then the old spec
        assert verbs == ["patch", "update"]
        assert state.writes[writes_before][1]["predictor"]["canaryTrafficPercent"] == 0
    else:  # the canary entry deleted
        assert verbs == ["update"]
    assert_all_valid(state, isvc_validator)


@pytest.mark.parametrize("mode", MODES)
def test_failing_canary_never_starts(kube_double, v2_double, mode):
    api, state = kube_double
    tgt = target(api, v2_double, mode)
    tgt.deploy(request("1"))
    before = stored(state)
    v2_double.behaviour = {"churn-model-v2-predictor": "bad", "latest-churn-model-predictor": "bad"}
    with pytest.raises(DeployError, match="rolled back InferenceService serving/churn-model"):
        tgt.start_canary(request("2"), 20)
    assert stored(state)["spec"] == before["spec"]
    with pytest.raises(ClusterError, match="no canary or shadow of version 2"):
        tgt.conclude("Churn_Model", "2", promote=True)


def test_canary_needs_a_champion(kube_double, v2_double):
    api, state = kube_double
    with pytest.raises(ClusterError, match="does not exist: a canary needs a serving version"):
        target(api, v2_double).start_canary(request("1"), 10)
    assert state.writes == []


@pytest.mark.parametrize("mode", MODES)
def test_shadow_then_promote(kube_double, v2_double, isvc_validator, mode):
    api, state = kube_double
    tgt = target(api, v2_double, mode)
    tgt.deploy(request("1"))

    started = tgt.start_shadow(request("2"))

    shadow, champion = stored(state, SHADOW), stored(state)
    assert shadow["spec"]["predictor"]["model"]["storageUri"] == uri("2")
    assert env(shadow) == {isvc.SHADOW_OF_ENV: NAME, settings.MODEL_VERSION_ENV: "2"}
    assert shadow["metadata"]["labels"][isvc.SHADOW_OF] == NAME and version_of(shadow) == "2"
    url = f"http://churn-model-shadow-predictor.{NS}.svc.cluster.local/v2/models/churn-model-shadow/infer"
    assert env(champion) == {isvc.SHADOW_URL_ENV: url, settings.MODEL_VERSION_ENV: "1"}
    assert started.detail["shadow_url"] == url
    assert champion["spec"]["predictor"]["model"]["storageUri"] == uri("1") and version_of(champion) == "1"
    assert "churn-model-shadow-predictor" in v2_double.hits  # the shadow was smoke-tested
    assert started.endpoint == f"{v2_double.base}/churn-model-predictor"  # clients stay on the champion

    done = target(api, v2_double, mode).conclude("Churn_Model", "2", promote=True)

    champion = stored(state)
    assert (NS, SHADOW) not in state.objects
    assert champion["spec"]["predictor"]["model"]["storageUri"] == uri("2")
    assert env(champion) == {settings.MODEL_VERSION_ENV: "2"} and version_of(champion) == "2"
    assert champion["metadata"]["labels"][lineage.K8S_PIPELINE_RUN_ID] == "pipeline-run-2"
    assert isvc.SHADOW_OF not in champion["metadata"]["labels"]
    assert done.detail["concluded"] == "shadow" and done.detail["serving"] == "2"
    assert_all_valid(state, isvc_validator)


@pytest.mark.parametrize("mode", MODES)
def test_shadow_ended_leaves_the_champion_as_it_was(kube_double, v2_double, isvc_validator, mode):
    api, state = kube_double
    tgt = target(api, v2_double, mode)
    tgt.deploy(request("1"))
    before = stored(state)
    tgt.start_shadow(request("2"))

    done = tgt.conclude("Churn_Model", "2", promote=False)

    assert (NS, SHADOW) not in state.objects
    assert stored(state)["spec"] == before["spec"] and version_of(stored(state)) == "1"
    assert done.detail["serving"] == "1" and done.detail["promoted"] == "false"
    assert_all_valid(state, isvc_validator)


def test_failing_shadow_is_removed_and_the_champion_untouched(kube_double, v2_double):
    api, state = kube_double
    tgt = target(api, v2_double)
    tgt.deploy(request("1"))
    before = stored(state)
    v2_double.behaviour = {"churn-model-shadow-predictor": "bad"}
    with pytest.raises(DeployError, match="smoke test"):
        tgt.start_shadow(request("2"))
    assert (NS, SHADOW) not in state.objects
    assert stored(state)["spec"] == before["spec"]
    assert [verb for verb, _ in state.writes] == ["create", "create", "delete"]  # the champion unwritten


def test_no_shadow_while_a_canary_runs(kube_double, v2_double):
    api, state = kube_double
    tgt = target(api, v2_double)
    tgt.deploy(request("1"))
    tgt.start_canary(request("2"), 10)
    with pytest.raises(ClusterError, match="runs a canary: conclude it first"):
        tgt.start_shadow(request("3"))
    assert (NS, SHADOW) not in state.objects


def test_stop_removes_the_shadow_too(kube_double, v2_double):
    api, state = kube_double
    tgt = target(api, v2_double)
    tgt.deploy(request("1"))
    tgt.start_shadow(request("2"))
    tgt.stop("Churn_Model")
    assert state.objects == {}


def test_shadow_needs_the_kfp_ct_runtime(kube_double, v2_double):
    api, state = kube_double
    with pytest.raises(ParameterError, match="needs runtime 'kfp-ct'"):
        target(api, v2_double, runtime="kserve-mlserver").start_shadow(request("2"))
    assert state.writes == []


def test_shadow_name_fits_the_limit():
    long = "m" * 40
    assert isvc.shadow_name(long) == "m" * 38 + "-shadow" and len(isvc.shadow_name(long)) == 45
