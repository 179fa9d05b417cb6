"""Rollout flows through the real `kubernetes` client over HTTP against an API DOUBLE.

The double (tests/cluster/conftest.py, built on kmock) is not a cluster: it stores
InferenceServices and scripts KServe's status transitions; predictor Services are played by a
local V2 endpoint on 127.0.0.1 that answers real V2 inference requests.
"""

from __future__ import annotations

import time

import pandas as pd
import pytest

from kfp_ct import lineage
from kfp_ct.deploy.base import DeployRequest, SmokeTest
from kfp_ct.deploy.targets.kserve import KServeConfig, KServeTarget
from kfp_ct.errors import ClusterError, DeployError

NS = "serving"


def uri(version: str) -> str:
    return f"s3://mlflow/artifacts/1/models/m-{version}/artifacts"


def request(version: str) -> DeployRequest:
    features = pd.DataFrame({"x0": [-1.0, 2.0, 0.5, -0.2], "x1": [1.0, 0.0, 3.0, 2.0]})
    return DeployRequest(
        model_name="Churn_Model",
        model_version=version,
        model_uri=f"models:/Churn_Model/{version}",
        model_dir=None,
        smoke=SmokeTest(features=features, expected=[int(x > 0) for x in features["x0"]]),
        lineage={
            lineage.PIPELINE_RUN_ID: f"pipeline-run-{version}",
            "mlflow_run_id": f"abc{version}",
            lineage.DATA_HASH: "f" * 64,
        },
    )


def target(api, v2, mode="Standard", steps=(10, 50, 100), timeout=5.0, **kw) -> KServeTarget:
    config = KServeConfig(
        namespace=NS,
        mode=mode,
        canary_steps=steps,
        readiness_timeout_s=timeout,
        poll_interval_s=0.01,
        service_url_template=v2.template,
        **kw,
    )
    return KServeTarget(config, api_client=api, storage_uri_for=lambda r: uri(r.model_version))


def stored(state):
    return state.objects[(NS, "churn-model")]


@pytest.mark.parametrize("mode", ["Standard", "Knative"])
def test_create_wait_canary_promote(kube_double, v2_double, isvc_validator, mode):
    api, state = kube_double
    tgt = target(api, v2_double, mode)

    first = tgt.deploy(request("1"))
    assert first.detail["created"] == "true"
    assert [verb for verb, _ in state.writes] == ["create"]
    assert v2_double.hits == ["churn-model-predictor"]
    assert first.endpoint == f"{v2_double.base}/churn-model-predictor"

    second = tgt.deploy(request("2"))
    verbs = [verb for verb, _ in state.writes]
    assert verbs == ["create", "update", "update", "update"]  # canary 10, canary 50, promote
    canary_specs = [spec for _, spec in state.writes[1:3]]
    if mode == "Standard":
        assert [s["canary"][0]["trafficPercent"] for s in canary_specs] == [10, 50]
        assert all(s["predictor"]["model"]["storageUri"] == uri("1") for s in canary_specs)
        assert all(s["canary"][0]["predictor"]["model"]["storageUri"] == uri("2") for s in canary_specs)
        canary_service = main_service = "churn-model-v2-predictor"
    else:
        assert [s["predictor"]["canaryTrafficPercent"] for s in canary_specs] == [10, 50]
        assert all(s["predictor"]["model"]["storageUri"] == uri("2") for s in canary_specs)
        canary_service, main_service = "latest-churn-model-predictor", "churn-model-predictor"
    # The smoke test hit the canary's own Service at each step, then the serving Service.
    assert v2_double.hits[1:] == [canary_service, canary_service, main_service]
    assert second.endpoint == f"{v2_double.base}/{main_service}"
    assert second.detail["created"] == "false"

    final = stored(state)
    assert final["spec"]["predictor"]["model"]["storageUri"] == uri("2")
    assert "canary" not in final["spec"] and "canaryTrafficPercent" not in final["spec"]["predictor"]
    assert final["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == mode
    labels = final["metadata"]["labels"]
    assert labels[lineage.K8S_MODEL_VERSION] == "2"
    assert labels[lineage.K8S_MODEL_NAME] == "Churn_Model"
    assert labels[lineage.K8S_PIPELINE_RUN_ID] == "pipeline-run-2"
    assert labels[lineage.K8S_MLFLOW_RUN_ID] == "abc2"
    assert lineage.K8S_DATA_HASH not in labels  # 64 chars: too long for a label value
    assert final["metadata"]["annotations"][lineage.K8S_DATA_HASH] == "f" * 64
    for _, spec in state.writes[1:]:  # everything written validates against the v0.20 CRD
        isvc_validator({**final, "spec": spec})


@pytest.mark.parametrize("mode", ["Standard", "Knative"])
def test_create_wait_failed_smoke_rolls_back(kube_double, v2_double, mode):
    api, state = kube_double
    tgt = target(api, v2_double, mode)
    tgt.deploy(request("1"))
    before = stored(state)
    # The new version's canary answers wrong predictions.
    v2_double.behaviour = {"churn-model-v2-predictor": "bad", "latest-churn-model-predictor": "bad"}

    with pytest.raises(DeployError) as err:
        tgt.deploy(request("2"))

    message = str(err.value)
    assert "smoke test" in message and "agree" in message
    assert "rolled back InferenceService serving/churn-model to the previous spec" in message
    after = stored(state)
    assert after["spec"] == before["spec"]
    assert after["metadata"]["labels"][lineage.K8S_MODEL_VERSION] == "1"
    verbs = [verb for verb, _ in state.writes]
    if mode == "Knative":  # traffic pinned to the old revision first, then the old spec back
        assert verbs == ["create", "update", "patch", "update"]
        assert state.writes[2][1]["predictor"]["canaryTrafficPercent"] == 0
    else:
        assert verbs == ["create", "update", "update"]
    canary = "churn-model-v2-predictor" if mode == "Standard" else "latest-churn-model-predictor"
    # v1's smoke test, then the failing 10% canary; never promoted.
    assert v2_double.hits == ["churn-model-predictor", canary]


def test_first_deploy_failing_smoke_deletes_it(kube_double, v2_double):
    api, state = kube_double
    v2_double.behaviour = {"churn-model-predictor": "bad"}
    with pytest.raises(DeployError, match="deleted the new InferenceService serving/churn-model"):
        target(api, v2_double).deploy(request("1"))
    assert state.objects == {}
    assert [verb for verb, _ in state.writes] == ["create", "delete"]


def test_update_in_place_without_steps(kube_double, v2_double):
    api, state = kube_double
    tgt = target(api, v2_double, steps=())
    tgt.deploy(request("1"))
    tgt.deploy(request("2"))
    assert [verb for verb, _ in state.writes] == ["create", "update"]
    assert stored(state)["metadata"]["generation"] == 2
    assert stored(state)["spec"]["predictor"]["model"]["storageUri"] == uri("2")


def test_failed_model_load_fails_fast_and_rolls_back(kube_double, v2_double):
    api, state = kube_double
    tgt = target(api, v2_double, steps=(), timeout=30.0)
    tgt.deploy(request("1"))
    state.broken_uris.add(uri("2"))
    start = time.monotonic()
    with pytest.raises(DeployError) as err:
        tgt.deploy(request("2"))
    assert time.monotonic() - start < 5  # did not wait out the 30 s timeout
    message = str(err.value)
    assert "BlockedByFailedLoad" in message and "ModelLoadFailed" in message
    assert f"failed to download {uri('2')}" in message
    assert "storage URI" in message and "kfp-ct-storage" in message  # names the fix
    assert "rolled back" in message
    assert stored(state)["spec"]["predictor"]["model"]["storageUri"] == uri("1")


def test_readiness_timeout_names_the_parameter(kube_double, v2_double):
    api, state = kube_double
    tgt = target(api, v2_double, steps=(), timeout=0.3)
    tgt.deploy(request("1"))
    state.stuck_uris.add(uri("2"))
    with pytest.raises(DeployError) as err:
        tgt.deploy(request("2"))
    message = str(err.value)
    assert "not ready after 0.3 s" in message and "InProgress" in message
    assert "readiness_timeout_s" in message and "rolled back" in message
    assert stored(state)["spec"]["predictor"]["model"]["storageUri"] == uri("1")


def test_missing_rbac_is_reported_before_any_write(kube_double, v2_double):
    api, state = kube_double
    state.allowed_verbs = {"get", "list"}
    with pytest.raises(ClusterError) as err:
        target(api, v2_double).deploy(request("1"))
    message = str(err.value)
    assert "create/update/patch/delete" in message
    assert "kfp-ct-deployer" in message
    assert "manifests/base/kfp-ct-deployer-role.yaml" in message
    assert "manifests/base/kfp-ct-deployer-rolebinding.yaml" in message
    assert "kubectl apply -n serving" in message
    assert state.writes == []
    assert set(state.ssar_verbs) == {"get", "create", "update", "patch", "delete"}


def test_forbidden_api_call_gets_the_same_fix(kube_double, v2_double):
    api, state = kube_double
    state.allowed_verbs = set()
    with pytest.raises(ClusterError, match=r"kfp-ct-deployer.*403"):
        target(api, v2_double, check_rbac=False).deploy(request("1"))


def test_mode_switch_is_refused(kube_double, v2_double):
    api, state = kube_double
    target(api, v2_double, "Standard").deploy(request("1"))
    with pytest.raises(ClusterError, match="cannot switch modes"):
        target(api, v2_double, "Knative").deploy(request("2"))
    assert [verb for verb, _ in state.writes] == ["create"]


def test_current_endpoint(kube_double, v2_double):
    api, _ = kube_double
    tgt = target(api, v2_double)
    assert tgt.current_endpoint("Churn_Model") is None
    tgt.deploy(request("1"))
    assert tgt.current_endpoint("Churn_Model") == f"{v2_double.base}/churn-model-predictor"
