"""The notify step: the outcome from KFP's state and MLflow records, both bodies, redaction, and a
webhook that is down, answers 500 or is malformed never making the step raise."""

from __future__ import annotations

import json
import logging

import pytest

from kfp_ct import lineage
from kfp_ct.steps import notify
from kfp_ct.steps.notify import NotifyParams, NotifyPaths
from kfp_ct.tracking.outcome import PipelineRecords, RunRecord
from tests.webhook import webhook

SECRET_URL = "https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX"


def _training(**metrics: float) -> RunRecord:
    return RunRecord("r1", "kfp-ct", {lineage.PIPELINE_RUN_ID: "ct-1"}, metrics)


def _params(**fields) -> NotifyParams:
    return NotifyParams(pipeline="continuous-training", model_name="m", pipeline_run_id="ct-1", **fields)


PROMOTED = PipelineRecords(
    runs=[_training(test_accuracy=0.91, train_accuracy=0.99)],
    versions=[
        {"version": "3", "run_id": "r1", lineage.DECISION: "promote", lineage.DECISION_REASONS: "better"}
    ],
)


def test_a_promoted_run_names_its_version_decision_and_held_out_metrics():
    o = notify.outcome_of(_params(), PROMOTED)
    assert (o.status, o.decision, o.model_version, o.reasons) == ("succeeded", "promote", "3", "better")
    assert o.metrics == {"accuracy": 0.91} and o.error == ""
    assert o.link.endswith("runs/ct-1/report.html")


def test_a_trained_run_with_no_version_was_rejected():
    o = notify.outcome_of(_params(), PipelineRecords(runs=[_training(test_accuracy=0.5)]))
    assert (o.decision, o.model_version, o.metrics) == ("reject", None, {"accuracy": 0.5})


def test_a_drift_or_monitoring_decision_is_read_from_its_run():
    gate = RunRecord(
        "d1", "kfp-ct-drift", {lineage.DECISION: "skip", lineage.DECISION_REASONS: "no drift"}, {}
    )
    o = notify.outcome_of(_params(), PipelineRecords(runs=[gate]))
    assert (o.decision, o.reasons) == ("skip", "no drift")


def test_a_failed_run_carries_the_error_and_no_reject_guess():
    o = notify.outcome_of(
        _params(state="FAILED", error="Task exit-handler-1 failed."), PipelineRecords(runs=[_training()])
    )
    assert (o.status, o.decision, o.error) == ("failed", "unknown", "Task exit-handler-1 failed.")
    body = notify.slack_message(o)
    assert "failed" in body["text"] and "Task exit-handler-1 failed." in json.dumps(body["blocks"])


def test_locally_the_cause_is_the_failing_steps_marker_in_the_run_log(tmp_path, monkeypatch):
    from kfp_ct import settings
    from kfp_ct.logs import FAILURE_MARKER

    monkeypatch.setenv(settings.HOME_ENV, str(tmp_path))
    run_dir = notify.local_run_dir("ct-1")
    run_dir.mkdir(parents=True)
    marker = f"[validate] {FAILURE_MARKER} validate: column 'y' absent"
    (run_dir / "run.log").write_text(f"noise\n{marker}\nmore\n")
    o = notify.outcome_of(_params(state="FAILED", error="Task exit-handler-1 failed."), PipelineRecords())
    assert o.error == "step 'validate' failed: column 'y' absent"


def test_the_cluster_link_is_the_kfp_ui_run_page():
    o = notify.outcome_of(
        _params(link_base="https://kfp.example/", pipeline_job_id="abc-123"), PipelineRecords()
    )
    assert o.link == "https://kfp.example/#/runs/details/abc-123"


def test_slack_and_json_bodies_have_their_own_shapes():
    o = notify.outcome_of(_params(), PROMOTED)
    slack = notify.build_message(o, "slack")
    assert (
        set(slack) == {"text", "blocks"}
        and slack["text"] == "kfp-ct continuous-training succeeded: promote (m v3)"
    )
    assert [b["type"] for b in slack["blocks"]] == ["header", "section"]
    assert "accuracy=0.9100" in slack["blocks"][1]["text"]["text"]
    generic = notify.build_message(o, "json")
    assert generic["decision"] == "promote" and generic["metrics"] == {"accuracy": 0.91}
    assert generic["model_version"] == "3" and generic["text"] == slack["text"]
    with pytest.raises(ValueError, match="notify_format 'xml'"):
        notify.build_message(o, "xml")


@pytest.mark.parametrize(
    "url, shown",
    [
        (SECRET_URL, "https://hooks.slack.com/***"),
        ("http://127.0.0.1:8080/hook?token=abc", "http://127.0.0.1:8080/***"),
        ("https://example.org", "https://example.org"),
        ("not a url", "<malformed URL>"),
        ("http://[::1", "<malformed URL>"),
    ],
)
def test_redaction_keeps_only_scheme_and_host(url, shown):
    assert notify.redact(url) == shown


@pytest.fixture
def hook():
    with webhook("/hooks/secret-path") as h:
        yield h


@pytest.fixture
def no_mlflow(monkeypatch):
    monkeypatch.setattr(notify, "_records", lambda params: PROMOTED)


def test_run_posts_the_body_and_writes_it(hook, tmp_path, no_mlflow):
    out = notify.run(_params(url=hook.url, notify_format="json"), NotifyPaths(message=tmp_path / "m.json"))
    assert (out.sent, out.status_code, out.problem) == (True, 200, "")
    assert hook.bodies == [json.loads((tmp_path / "m.json").read_text())]
    assert hook.bodies[0]["decision"] == "promote"


def test_a_5xx_is_retried_then_sent(hook, tmp_path, no_mlflow):
    hook.codes = [503, 200]
    out = notify.run(_params(url=hook.url), NotifyPaths(message=tmp_path / "m.json"))
    assert out.sent and len(hook.bodies) == 2


@pytest.mark.parametrize("code, posts", [(500, 2), (404, 1)])
def test_a_refusing_webhook_is_logged_never_raised(hook, tmp_path, no_mlflow, caplog, code, posts):
    hook.codes = [code] * 3
    with caplog.at_level(logging.WARNING, logger="kfp_ct"):
        out = notify.run(_params(url=hook.url, attempts=2), NotifyPaths(message=tmp_path / "m.json"))
    assert (out.sent, out.status_code) == (False, code) and len(hook.bodies) == posts
    assert f"answered {code}" in caplog.text and "secret-path" not in caplog.text


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/hooks/secret-path", "not a url", "ftp://h/secret-path"])
def test_a_down_or_malformed_webhook_never_fails(url, tmp_path, no_mlflow, caplog):
    with caplog.at_level(logging.INFO, logger="kfp_ct"):
        out = notify.run(_params(url=url, attempts=2, timeout_s=1), NotifyPaths(message=tmp_path / "m.json"))
    assert not out.sent and out.problem and "secret-path" not in caplog.text + out.problem
    assert (tmp_path / "m.json").exists()


def test_an_unknown_format_is_logged_not_raised(tmp_path, no_mlflow):
    out = notify.run(
        _params(url="http://127.0.0.1:9/x", notify_format="xml"), NotifyPaths(message=tmp_path / "m.json")
    )
    assert not out.sent and "notify_format 'xml'" in out.problem


def test_unreadable_mlflow_still_notifies_with_kfps_state(tmp_path, monkeypatch):
    import kfp_ct.tracking.outcome as outcome

    def boom(*args):
        raise RuntimeError("MLflow down")

    monkeypatch.setattr(outcome, "pipeline_records", boom)
    params = _params(url="http://127.0.0.1:9/x", attempts=1, timeout_s=1, state="FAILED", error="boom")
    out = notify.run(params, NotifyPaths(message=tmp_path / "m.json"))
    assert (out.outcome.status, out.outcome.decision, out.outcome.error) == ("failed", "unknown", "boom")


def test_no_url_reads_no_mlflow(tmp_path, monkeypatch):
    import kfp_ct.tracking.outcome as outcome

    reads = []
    monkeypatch.setattr(outcome, "pipeline_records", lambda *args: reads.append(args))
    out = notify.run(_params(), NotifyPaths(message=tmp_path / "m.json"))
    assert reads == [] and not out.sent and out.problem == "" and out.outcome.status == "succeeded"


def test_from_kfp_takes_the_secrets_url_when_the_parameter_is_empty(monkeypatch):
    monkeypatch.setenv(notify.URL_ENV, SECRET_URL)
    p = NotifyParams.from_kfp(notify_url="", state="SUCCEEDED", error_message="", pipeline="x")
    assert p.url == SECRET_URL
    p = NotifyParams.from_kfp(notify_url="http://h/p", state="FAILED", error_message="e", pipeline="x")
    assert (p.url, p.state, p.error) == ("http://h/p", "FAILED", "e")
