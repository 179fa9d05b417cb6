"""Capture and monitoring on a cluster: the server's capture settings, the monitoring schedule."""

from __future__ import annotations

from tests.packaging.pkg_support import find


def test_model_server_captures_to_s3_with_the_storage_secret(chart_renders, kustomize_renders):
    renders = {**{f"chart:{k}": v for k, v in chart_renders.items()},
               **{f"kustomize:{k}": v for k, v in kustomize_renders.items()}}  # fmt: skip
    for label, docs in renders.items():
        (container,) = find(docs, "ServingRuntime", "kfp-ct")["spec"]["containers"]
        env = {e["name"]: e for e in container["env"]}
        uri = env["KFP_CT_CAPTURE_URI"]["value"]
        assert uri.startswith("s3://"), label
        assert 0.0 <= float(env["KFP_CT_CAPTURE_SAMPLE_RATE"]["value"]) <= 1.0, label
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            assert env[key]["valueFrom"]["secretKeyRef"] == {"name": "kfp-ct-s3-storage", "key": key}, label
        config = find(docs, "ConfigMap", "kfp-ct-config")["data"]
        assert env["AWS_ENDPOINT_URL"]["value"] == config["MLFLOW_S3_ENDPOINT_URL"], label
        assert config["KFP_CT_CAPTURE_URI"] == uri, label  # the monitor reads what the server writes


def test_setup_job_uploads_and_schedules_monitoring(chart_renders):
    for scenario, docs in chart_renders.items():
        pod = find(docs, "Job")["spec"]["template"]["spec"]
        steps = [*pod.get("initContainers", []), *pod["containers"]]
        uploads = [c["args"][-1] for c in steps if c["args"][0] == "upload"]
        assert "monitoring" in uploads, scenario
        (monitoring,) = [c["args"] for c in steps if c["name"] == "schedule-monitoring"]
        assert monitoring[monitoring.index("--pipeline") + 1] == "monitoring", scenario
        assert len(monitoring[monitoring.index("--cron") + 1].split()) == 6, scenario
        assert monitoring[-2:] == ["--name", "kfp-ct-monitoring"], scenario
