"""The rendered objects keep the contracts the pipeline and serving code rely on."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from mlflow.server.security_utils import is_allowed_host_header

from tests.packaging.pkg_support import find, pod_specs

SERVING_ARGS = [
    "-m",
    "kfp_ct.serving",
    "--model_name={{.Name}}",
    "--model_dir=/mnt/models",
    "--http_port=8080",
]
DEPLOYER_RULES = [
    {
        "apiGroups": ["serving.kserve.io"],
        "resources": ["inferenceservices", "inferenceservices/status"],
        "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
    },
    {
        "apiGroups": ["serving.kserve.io"],
        "resources": ["servingruntimes"],
        "verbs": ["get", "list"],
    },
]
CONFIG_KEYS = {
    "MLFLOW_TRACKING_URI",
    "MLFLOW_S3_ENDPOINT_URL",
    "KFP_CT_SERVING_NAMESPACE",
    "KFP_CT_MLFLOW_ARTIFACTS_DESTINATION",
}


@pytest.fixture(scope="session")
def renders(chart_renders, kustomize_renders):
    """label -> objects, hooks included, for every chart scenario and kustomize target."""
    out = {f"chart:{k}": v for k, v in chart_renders.items()}
    out.update({f"kustomize:{k}": v for k, v in kustomize_renders.items()})
    return out


def _expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes $(VAR) expansion in container args."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m[1], m[0]), value)


def _mlflow_flags(deployment: dict) -> dict[str, str]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["mlflow"] and container["args"][0] == "server"
    env = {e["name"]: e.get("value", "<from secret>") for e in container["env"]}
    flags = {}
    for arg in container["args"][1:]:
        key, _, value = arg.partition("=")
        flags[key] = _expand(value, env)
    return flags


def test_serving_runtime(renders):
    for label, docs in renders.items():
        runtime = find(docs, "ServingRuntime", "kfp-ct")
        assert runtime["metadata"]["namespace"] == "kfp-ct", label
        spec = runtime["spec"]
        assert spec["supportedModelFormats"] == [{"name": "mlflow", "version": "3", "autoSelect": False}], (
            label
        )
        assert spec["protocolVersions"] == ["v1", "v2"], label
        (container,) = spec["containers"]
        assert container["name"] == "kserve-container", label
        assert container["command"] == ["python"], label
        assert container["args"] == SERVING_ARGS, label
        assert container["image"] == "ghcr.io/kfp-ct/kfp-ct:0.1.0", label
        assert container["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": 8080}


def test_rbac(renders):
    for label, docs in renders.items():
        role = find(docs, "Role", "kfp-ct-deployer")
        assert role["metadata"]["namespace"] == "kfp-ct", label
        assert role["rules"] == DEPLOYER_RULES, label
        binding = find(docs, "RoleBinding", "kfp-ct-deployer")
        assert binding["metadata"]["namespace"] == "kfp-ct", label
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": "kfp-ct-deployer",
        }, label
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "pipeline-runner", "namespace": "kubeflow"}
        ], label


def test_pipeline_config_and_secret(renders):
    for label, docs in renders.items():
        config = find(docs, "ConfigMap", "kfp-ct-config")
        assert config["metadata"]["namespace"] == "kubeflow", label
        assert set(config["data"]) >= CONFIG_KEYS, label
        assert config["data"]["KFP_CT_SERVING_NAMESPACE"] == "kfp-ct", label
        assert config["data"]["KFP_CT_HARDWARE_PROFILE"] in {"cpu", "gpu"}, label
        assert urlsplit(config["data"]["MLFLOW_TRACKING_URI"]).scheme in {"http", "https"}
        secret = find(docs, "Secret", "kfp-ct-s3")
        assert secret["metadata"]["namespace"] == "kubeflow", label
        assert set(secret["stringData"]) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


def test_kserve_storage_credentials(renders):
    for label, docs in renders.items():
        account = find(docs, "ServiceAccount", "kfp-ct-storage")
        assert account["metadata"]["namespace"] == "kfp-ct", label
        assert account["secrets"] == [{"name": "kfp-ct-s3-storage"}], label
        secret = find(docs, "Secret", "kfp-ct-s3-storage")
        notes = secret["metadata"]["annotations"]
        endpoint = urlsplit(find(docs, "ConfigMap", "kfp-ct-config")["data"]["MLFLOW_S3_ENDPOINT_URL"])
        assert notes["serving.kserve.io/s3-endpoint"] == endpoint.netloc, label
        assert notes["serving.kserve.io/s3-usehttps"] == ("1" if endpoint.scheme == "https" else "0")
        assert set(secret["stringData"]) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


def test_mlflow_server(renders):
    checked = 0
    for label, docs in renders.items():
        config = find(docs, "ConfigMap", "kfp-ct-config")["data"]
        deployments = [d for d in docs if d["kind"] == "Deployment"]
        if label == "chart:external-mlflow":
            assert deployments == [], "no in-cluster MLflow with an external one"
            assert config["MLFLOW_TRACKING_URI"] == "https://mlflow.example.com"
            continue
        deployment = find(docs, "Deployment", "mlflow")
        flags = _mlflow_flags(deployment)
        assert flags["--host"] == "0.0.0.0" and flags["--port"] == "5000", label
        assert flags["--artifacts-destination"] == config["KFP_CT_MLFLOW_ARTIFACTS_DESTINATION"]
        assert flags["--artifacts-destination"].startswith("s3://"), label
        backend = flags["--backend-store-uri"]
        assert backend in {"sqlite:////mlflow/mlflow.db", "<from secret>"}, label
        # mlflow 3.17 answers 403 to unknown Host headers: the pipelines' URI must be accepted.
        allowed = flags["--allowed-hosts"].split(",")
        tracking = urlsplit(config["MLFLOW_TRACKING_URI"])
        assert tracking.hostname == "mlflow.kfp-ct.svc.cluster.local", label
        for host in (tracking.netloc, "mlflow.kfp-ct:5000", "mlflow:5000", "localhost:5000"):
            assert is_allowed_host_header(allowed, host), f"{label}: {host} rejected"
        assert not is_allowed_host_header(allowed, "evil.example.com"), label
        assert "*" not in allowed, label
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            assert container[probe]["httpGet"]["path"] == "/health", label
        service = find(docs, "Service", "mlflow")
        assert service["spec"]["ports"][0]["port"] == 5000, label
        assert service["spec"]["selector"].items() <= pod_labels(deployment).items(), label
        # Besides the scratch emptyDirs of the read-only root filesystem (test_rel_security):
        data_volumes = [v for v in pod.get("volumes", []) if "emptyDir" not in v]
        data_mounts = [m for m in container.get("volumeMounts", []) if m["mountPath"] == "/mlflow"]
        if backend.startswith("sqlite"):
            claim = find(docs, "PersistentVolumeClaim", "mlflow")
            assert data_volumes == [
                {"name": "data", "persistentVolumeClaim": {"claimName": claim["metadata"]["name"]}}
            ]
            assert data_mounts == [{"name": "data", "mountPath": "/mlflow"}], label
            assert deployment["spec"]["replicas"] == 1, label
            assert deployment["spec"]["strategy"]["type"] == "Recreate", label
        else:
            assert not [d for d in docs if d["kind"] == "PersistentVolumeClaim"], label
            assert not data_volumes and not data_mounts, label
        checked += 1
    assert checked >= 8


def pod_labels(deployment: dict) -> dict:
    return deployment["spec"]["template"]["metadata"]["labels"]


def test_gpu_profile(renders):
    """Model servers on the GPU pool where asked; a GPU limit only on real GPU pools."""
    expected = {
        "chart:gpu": True,
        "kustomize:overlays/gpu": True,
        "chart:kind": False,
        "kustomize:overlays/kind": False,
    }
    for label, docs in renders.items():
        spec = find(docs, "ServingRuntime", "kfp-ct")["spec"]
        limits = spec["containers"][0]["resources"]["limits"]
        if label in expected:
            assert spec["nodeSelector"] == {"pool": "gpu"}, label
            assert spec["tolerations"] == [
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
            ], label
            assert ("nvidia.com/gpu" in limits) is expected[label], label
            if expected[label]:
                assert limits["nvidia.com/gpu"] == "1", label
                config = find(docs, "ConfigMap", "kfp-ct-config")["data"]
                assert config["KFP_CT_HARDWARE_PROFILE"] == "gpu", label
        else:
            assert "nodeSelector" not in spec and "nvidia.com/gpu" not in limits, label


def test_production(renders):
    for label in ("chart:production", "kustomize:overlays/production"):
        docs = renders[label]
        deployment = find(docs, "Deployment", "mlflow")
        assert deployment["spec"]["replicas"] == 2, label
        assert deployment["spec"]["strategy"]["type"] == "RollingUpdate", label
        pdb = find(docs, "PodDisruptionBudget", "mlflow")
        assert pdb["spec"]["minAvailable"] == 1, label
        assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels(deployment).items()
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e for e in container["env"]}
        assert env["MLFLOW_BACKEND_STORE_URI"]["valueFrom"]["secretKeyRef"] == {
            "name": "mlflow-backend",
            "key": "MLFLOW_BACKEND_STORE_URI",
        }, label
        secret = find(docs, "Secret", "mlflow-backend")
        assert secret["stringData"]["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql://")
        assert container["resources"]["limits"] == {"cpu": "2", "memory": "4Gi"}, label


def test_setup_job(chart_renders):
    """Post-install hook: uploads each pipeline, then schedules retraining with a 6-field cron."""
    for scenario, docs in chart_renders.items():
        job = find(docs, "Job")
        notes = job["metadata"]["annotations"]
        assert notes["helm.sh/hook"] == "post-install,post-upgrade", scenario
        pod = job["spec"]["template"]["spec"]
        steps = [*pod.get("initContainers", []), *pod["containers"]]
        assert all(c["command"] == ["kfp-ct"] for c in steps), scenario
        host = ["--host", "http://ml-pipeline.kubeflow.svc.cluster.local:8888"]
        assert [c["args"] for c in steps[:2]] == [
            ["upload", *host, "--pipeline", "continuous-training"],
            ["upload", *host, "--pipeline", "retraining"],
        ], scenario
        schedule = steps[-1]["args"]
        assert schedule[:5] == ["schedule", *host, "--pipeline", "retraining"], scenario
        cron = schedule[schedule.index("--cron") + 1]
        assert len(cron.split()) == 6, f"KFP cron has six fields: {cron!r}"
        params = [schedule[i + 1] for i, a in enumerate(schedule) if a == "--param"]
        assert {p.split("=", 1)[0] for p in params} == {
            "data_uri",
            "label",
            "model_name",
            "deploy_target",
        }, scenario
        assert schedule[-2:] == ["--name", "kfp-ct-retraining"], scenario
        assert pod["restartPolicy"] == "Never", scenario


def test_helm_test_pod_calls_a_real_mlflow_api(chart_renders):
    for scenario, docs in chart_renders.items():
        pod = find(docs, "Pod")
        assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test", scenario
        (container,) = pod["spec"]["containers"]
        script = container["args"][0]
        assert "/api/2.0/mlflow/experiments/search" in script, scenario
        compile(script, "helm-test", "exec")
        env = {e["name"]: e["value"] for e in container["env"]}
        config = find(docs, "ConfigMap", "kfp-ct-config")["data"]
        assert env["MLFLOW_TRACKING_URI"] == config["MLFLOW_TRACKING_URI"], scenario


def test_every_workload_pod_is_checked(renders):
    """pod_specs() sees the workloads the other tests rely on."""
    kinds = {d["kind"] for docs in renders.values() for d in docs for _ in pod_specs(d)}
    assert kinds == {"Deployment", "Job", "Pod", "ServingRuntime"}
