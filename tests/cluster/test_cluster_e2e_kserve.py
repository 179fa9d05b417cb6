"""End to end on a REAL cluster: deploy to KServe, then a canary, each checked by a V2 request.

Runs only with the `cluster` marker's prerequisites; skipped without a kubeconfig. Needs KServe
v0.20+, the `kfp-ct` ServingRuntime and ServiceAccount `kfp-ct-storage` in the namespace, RBAC
from manifests/base, and a model the cluster can pull:

    KFP_CT_E2E_MODEL_DIR     local MLflow model directory (with an input example)
    KFP_CT_E2E_STORAGE_URI   the same model where KServe can pull it (s3://, gs://, pvc://)
    KFP_CT_E2E_NAMESPACE     serving namespace (default kfp-ct)
    KFP_CT_E2E_MODE          Standard (default) or Knative

Services are reached through `kubectl proxy` on 127.0.0.1 (the API server's service proxy).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.cluster

KUBECONFIG = Path(os.environ.get("KUBECONFIG", "~/.kube/config")).expanduser()


def _require() -> dict[str, str]:
    if not KUBECONFIG.is_file():
        pytest.skip(f"no kubeconfig at {KUBECONFIG}")
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl not on PATH")
    env = {k: os.environ.get(k, "") for k in ("KFP_CT_E2E_MODEL_DIR", "KFP_CT_E2E_STORAGE_URI")}
    missing = [k for k, v in env.items() if not v]
    if missing:
        pytest.skip(f"set {', '.join(missing)} (see module docstring)")
    return env


@pytest.fixture
def kubectl_proxy():
    proc = subprocess.Popen(
        ["kubectl", "proxy", "--address=127.0.0.1", "--port=0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        match = re.search(r"127\.0\.0\.1:(\d+)", line)
        assert match, f"kubectl proxy did not start: {line!r}"
        yield f"http://127.0.0.1:{match.group(1)}"
    finally:
        proc.terminate()
        proc.wait(10)


def test_deploy_then_canary_on_a_real_cluster(kubectl_proxy):
    env = _require()
    import mlflow.pyfunc
    from mlflow.models import Model

    from kfp_ct.cluster.kube import InferenceServices, load_api_client
    from kfp_ct.deploy.base import DeployRequest, SmokeTest
    from kfp_ct.deploy.smoke import run_smoke_test
    from kfp_ct.deploy.targets.kserve import KServeConfig, KServeTarget

    model_dir = env["KFP_CT_E2E_MODEL_DIR"]
    features = Model.load(model_dir).load_input_example(model_dir)
    expected = list(mlflow.pyfunc.load_model(model_dir).predict(features))
    namespace = os.environ.get("KFP_CT_E2E_NAMESPACE", "kfp-ct")
    name = f"kfp-ct-e2e-{int(time.time()) % 100000}"
    template = kubectl_proxy + "/api/v1/namespaces/{namespace}/services/{service}:80/proxy"
    config = KServeConfig(
        namespace=namespace,
        mode=os.environ.get("KFP_CT_E2E_MODE", "Standard"),
        canary_steps=(50, 100),
        readiness_timeout_s=900,
        isvc_name=name,
        service_url_template=template,
    )
    api = load_api_client()
    target = KServeTarget(config, api_client=api, storage_uri_for=lambda r: env["KFP_CT_E2E_STORAGE_URI"])

    def request(version: str) -> DeployRequest:
        return DeployRequest(
            model_name=name, model_version=version, model_uri=f"models:/{name}/{version}",
            model_dir=Path(model_dir), smoke=SmokeTest(features, expected),
            lineage={"kfp_ct.pipeline_run_id": "e2e"},
        )  # fmt: skip

    try:
        first = target.deploy(request("1"))
        assert run_smoke_test(first.endpoint, name, SmokeTest(features, expected)) == 1.0
        second = target.deploy(request("2"))  # canary 50% (smoke-tested), then promoted
        assert run_smoke_test(second.endpoint, name, SmokeTest(features, expected)) == 1.0
        stored = InferenceServices(api, namespace).get(name)
        assert stored["metadata"]["labels"]["kfp-ct.io/model-version"] == "2"
    finally:
        if InferenceServices(api, namespace).get(name) is not None:
            InferenceServices(api, namespace).delete(name)
