"""Submission and scheduling over real HTTP against a DOUBLE of the KFP v2beta1 REST API.

The server in conftest.py is a test double, not Kubeflow Pipelines: it records the requests
the real ``kfp.Client`` sends (multipart upload, pipeline version, run, recurring run) and the
tests assert on them. Only loopback addresses are used.
"""

import json

import pytest
import yaml

from kfp_ct import __version__
from kfp_ct.cli import main
from kfp_ct.errors import RemoteError, RunFailedError
from kfp_ct.remote import ConnectionOptions, connect, schedule, submit, upload_pipeline, version_name

API = "/apis/v2beta1"


def opts(double, **kw):
    return ConnectionOptions(host=double.url, token="t0ken", **kw)


def test_upload_creates_pipeline_then_named_version_and_is_idempotent(kfp_double, tiny_package):
    result = upload_pipeline(opts(kfp_double), package=tiny_package)
    assert result.pipeline_name == "tiny"
    assert result.version_name == version_name(tiny_package)
    assert (
        result.version_name.startswith(f"{__version__}-") and len(result.version_name) == len(__version__) + 9
    )
    assert result.created_pipeline and result.created_version

    (up,) = kfp_double.calls("POST", f"{API}/pipelines/upload")
    assert up["query"]["name"] == "tiny"
    assert up["headers"]["authorization"] == "Bearer t0ken"
    assert up["headers"]["content-type"].startswith("multipart/form-data")
    _, content = up["files"]["uploadfile"]
    assert content == tiny_package.read_bytes()
    (ver,) = kfp_double.calls("POST", f"{API}/pipelines/upload_version")
    assert ver["query"] == {
        "name": result.version_name,
        "pipelineid": result.pipeline_id,
        "description": ver["query"]["description"],
    }
    assert ver["files"]["uploadfile"][1] == tiny_package.read_bytes()

    again = upload_pipeline(opts(kfp_double), package=tiny_package)
    assert (again.pipeline_id, again.version_id) == (result.pipeline_id, result.version_id)
    assert not again.created_pipeline and not again.created_version
    assert len(kfp_double.calls("POST", f"{API}/pipelines/upload.*")) == 2  # nothing new

    changed = tiny_package.with_name("tiny2.yaml")
    changed.write_text(tiny_package.read_text().replace("msg * n", "msg * (n + 1)"))
    third = upload_pipeline(opts(kfp_double), package=changed)
    assert third.pipeline_id == result.pipeline_id and third.created_version
    assert third.version_name != result.version_name


def test_submit_creates_experiment_and_run_with_parameters(kfp_double, tiny_package, capsys):
    rc = main(
        [
            "submit",
            "--host",
            kfp_double.url,
            "--token",
            "t0ken",
            "--package",
            str(tiny_package),
            "--param",
            "msg=hello",
            "--param",
            "n=3",
            "--experiment",
            "nightly",
            "--run-name",
            "r1",
        ]
    )
    assert rc == 0
    (exp,) = kfp_double.calls("POST", f"{API}/experiments")
    assert exp["json"]["display_name"] == "nightly"
    (run,) = kfp_double.calls("POST", f"{API}/runs")
    body = run["json"]
    version = next(iter(v for v in kfp_double.versions.values() if v["name"] != "tiny"))
    assert body["display_name"] == "r1"
    assert body["experiment_id"] == next(iter(kfp_double.experiments))
    assert body["pipeline_version_reference"] == {
        "pipeline_id": version["pipeline_id"],
        "pipeline_version_id": version["pipeline_version_id"],
    }
    assert body["runtime_config"]["parameters"] == {"msg": "hello", "n": 3}
    assert "pipeline_spec" not in body  # the run references the uploaded version
    run_id = next(iter(kfp_double.runs))
    assert capsys.readouterr().out.strip().splitlines()[-1] == f"{kfp_double.url}/#/runs/details/{run_id}"

    # A second submit reuses the experiment and the version.
    main(
        [
            "submit",
            "--host",
            kfp_double.url,
            "--token",
            "t0ken",
            "--package",
            str(tiny_package),
            "--experiment",
            "nightly",
        ]
    )
    assert len(kfp_double.calls("POST", f"{API}/experiments")) == 1
    assert len(kfp_double.calls("POST", f"{API}/runs")) == 2


def test_wait_follows_the_run_to_success_and_failure(kfp_double, tiny_package):
    lines = []
    _, run = submit(opts(kfp_double), package=tiny_package, wait=True, poll_s=0.01, echo=lines.append)
    assert run.state == "SUCCEEDED"
    assert [line.split(": ")[1].split()[0] for line in lines[1:]] == [
        "PENDING",
        "RUNNING",
        "SUCCEEDED",
    ]
    kfp_double.run_states = ["RUNNING", "FAILED"]
    with pytest.raises(RunFailedError, match=r"ended FAILED: step train failed"):
        submit(opts(kfp_double), package=tiny_package, wait=True, poll_s=0.01, echo=lines.append)


def test_wait_exit_code_is_non_zero_on_failure(kfp_double, tiny_package, capsys):
    kfp_double.run_states = ["FAILED"]
    rc = main(
        [
            "submit",
            "--host",
            kfp_double.url,
            "--token",
            "t0ken",
            "--package",
            str(tiny_package),
            "--wait",
            "--poll",
            "0.01",
        ]
    )
    assert rc == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ended FAILED" in err[0]


def test_schedule_creates_cron_recurring_run_idempotently(kfp_double, tiny_package):
    up, sched, outcome = schedule(
        opts(kfp_double), "0 0 2 * * *", package=tiny_package, params={"n": 2}, name="nightly"
    )
    assert outcome == "created"
    (call,) = kfp_double.calls("POST", f"{API}/recurringruns")
    body = call["json"]
    assert body["display_name"] == "nightly"
    assert body["trigger"] == {"cron_schedule": {"cron": "0 0 2 * * *"}}
    assert int(body["max_concurrency"]) == 1
    assert body["no_catchup"] is True
    assert body["mode"] == "ENABLE"
    assert body["pipeline_version_reference"]["pipeline_version_id"] == up.version_id
    assert body["runtime_config"]["parameters"] == {"n": 2}
    assert sched.cron == "0 0 2 * * *" and sched.max_concurrency == 1

    _, _, outcome = schedule(
        opts(kfp_double), "0 0 2 * * *", package=tiny_package, params={"n": 2}, name="nightly"
    )
    assert outcome == "unchanged"
    assert len(kfp_double.calls("POST", f"{API}/recurringruns")) == 1

    _, _, outcome = schedule(
        opts(kfp_double), "0 30 3 * * *", package=tiny_package, params={"n": 2}, name="nightly"
    )
    assert outcome == "replaced"
    assert len(kfp_double.calls("DELETE", f"{API}/recurringruns/.*")) == 1
    assert [r["trigger"]["cron_schedule"]["cron"] for r in kfp_double.recurring.values()] == ["0 30 3 * * *"]


def test_schedule_cli_list_pause_resume_delete(kfp_double, tiny_package, capsys):
    base = ["--host", kfp_double.url, "--token", "t0ken"]
    assert (
        main(
            [
                "schedule",
                *base,
                "--package",
                str(tiny_package),
                "--cron",
                "0 0 2 * * *",
                "--name",
                "nightly",
                "--param",
                "n=2",
            ]
        )
        == 0
    )
    rr_id = next(iter(kfp_double.recurring))
    assert main(["schedule", "list", *base, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert [(s["name"], s["cron"], s["max_concurrency"]) for s in listed] == [("nightly", "0 0 2 * * *", 1)]
    assert main(["schedule", "pause", "nightly", *base]) == 0
    assert kfp_double.calls("POST", f"{API}/recurringruns/{rr_id}:disable")
    capsys.readouterr()
    assert main(["schedule", "list", *base]) == 0
    assert capsys.readouterr().out.splitlines()[-1].split("\t")[2:] == [
        "0 0 2 * * *",
        "DISABLE",
        "DISABLED",
    ]
    assert main(["schedule", "resume", rr_id, *base]) == 0
    assert kfp_double.calls("POST", f"{API}/recurringruns/{rr_id}:enable")
    assert main(["schedule", "delete", "nightly", *base]) == 0
    assert kfp_double.recurring == {}
    assert main(["schedule", "delete", "nightly", *base]) == 2
    assert "no recurring run named 'nightly'" in capsys.readouterr().err


def one_error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("kfp-ct: error: ")
    return err[0]


def test_malformed_cron_fails_before_any_request(kfp_double, tiny_package, capsys):
    rc = main(
        [
            "schedule",
            "--host",
            kfp_double.url,
            "--token",
            "t0ken",
            "--package",
            str(tiny_package),
            "--cron",
            "0 2 * * *",
        ]
    )
    assert rc == 2
    line = one_error_line(capsys)
    assert "six fields" in line and '"0 0 2 * * *"' in line
    assert kfp_double.requests == []


def test_unknown_pipeline_name_is_one_line(kfp_double, capsys):
    rc = main(["submit", "--host", kfp_double.url, "--token", "t0ken", "--pipeline", "nope"])
    assert rc == 2
    assert "nope" in one_error_line(capsys) or "compile_pipeline" in one_error_line(capsys)
    assert kfp_double.requests == []


def test_unreachable_host_is_one_line(closed_port_url, tiny_package, capsys):
    rc = main(["submit", "--host", closed_port_url, "--package", str(tiny_package)])
    assert rc == 2
    line = one_error_line(capsys)
    assert f"cannot reach the KFP API at {closed_port_url}" in line and "--host" in line


def test_bad_token_is_one_line_naming_the_fix(kfp_double, tiny_package, capsys):
    rc = main(["upload", "--host", kfp_double.url, "--token", "wrong", "--package", str(tiny_package)])
    assert rc == 2
    assert "--token" in one_error_line(capsys)
    assert [r["path"] for r in kfp_double.requests] == [f"{API}/healthz"]


def test_token_from_environment_and_namespace(kfp_double, tiny_package, monkeypatch):
    monkeypatch.setenv("KFP_CT_TOKEN", "t0ken")
    options = ConnectionOptions(host=kfp_double.url, namespace="team-a")
    connect(options)
    result = upload_pipeline(options, package=tiny_package)
    up = kfp_double.calls("POST", f"{API}/pipelines/upload")[0]
    assert up["headers"]["authorization"] == "Bearer t0ken"
    assert up["query"]["namespace"] == "team-a"
    assert result.created_pipeline


def test_ca_cert_must_exist(kfp_double, capsys):
    rc = main(["upload", "--host", kfp_double.url, "--package", "/nonexistent.yaml"])
    assert rc == 2 and "no such file" in one_error_line(capsys)
    options = ConnectionOptions(host=kfp_double.url, token="t0ken", ca_cert="/nonexistent-ca.pem")
    with pytest.raises(RemoteError, match=r"--ca-cert /nonexistent-ca\.pem: no such file"):
        connect(options)


def test_real_continuous_training_pipeline_uploads(kfp_double, tmp_path):
    pipelines = pytest.importorskip("kfp_ct.pipelines")
    if not hasattr(pipelines, "compile_pipeline"):
        pytest.skip("kfp_ct.pipelines.compile_pipeline is not there yet")
    rc = main(
        [
            "upload",
            "--host",
            kfp_double.url,
            "--token",
            "t0ken",
            "--pipeline",
            "continuous-training",
        ]
    )
    assert rc == 0
    (up,) = kfp_double.calls("POST", f"{API}/pipelines/upload")
    assert up["query"]["name"] == "continuous-training"
    spec, platform = yaml.safe_load_all(up["files"]["uploadfile"][1])
    assert "pipelineInfo" in spec and "root" in spec
    assert "kubernetes" in platform["platforms"]  # cluster env wiring travels with the upload
