"""Step `notify`: report a pipeline run's outcome to a webhook (the pipelines' exit task).

The exit task of every pipeline runs this whatever the body did. It learns the run's state from
KFP (`dsl.PipelineTaskFinalStatus`) and the rest from what the run left in MLflow under its
pipeline run id (`tracking.outcome`): the decision, the held-out metrics and the registered
version. The message is Slack-compatible (`{"text", "blocks"}`) or a generic JSON body
(`notify_format`). A notification that cannot be built or sent is logged and never raised:
the run's outcome is the run's, not the webhook's.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kfp_ct import lineage, settings
from kfp_ct.logs import failure_from_output

log = logging.getLogger(__name__)

FORMATS = ("slack", "json")
SECRET, SECRET_KEY = "kfp-ct-notify", "url"  # the optional Secret holding the URL on a cluster
URL_ENV = "KFP_CT_NOTIFY_URL"  # the env var the Secret's `url` key becomes on the notify task
KFP_UI_ENV = "KFP_CT_KFP_UI_URL"  # base URL of the KFP UI, for the run link on a cluster
SUCCEEDED, FAILED = "succeeded", "failed"
TRAINING_EXPERIMENT = settings.DEFAULT_EXPERIMENT


@dataclass(frozen=True, kw_only=True)
class NotifyParams:
    """Where to post, in which format, and which run to report."""

    url: str = ""  # empty: build the message, send nothing
    notify_format: str = "slack"  # slack | json
    pipeline: str = ""
    model_name: str = settings.DEFAULT_MODEL_NAME
    pipeline_run_id: str = ""  # the pipeline job name: the lineage tag every step writes
    pipeline_job_id: str = ""  # the KFP run id (the UI link)
    state: str = "SUCCEEDED"  # KFP's final state of the pipeline body
    error: str = ""  # KFP's error message when the body failed
    link_base: str = ""  # KFP UI base URL; empty: link to the local run report
    timeout_s: float = 5.0
    attempts: int = 3

    @classmethod
    def from_kfp(cls, *, notify_url: str, state: str, error_message: str, **fields: Any) -> NotifyParams:
        """Build from the exit task's parameters: the URL (else the Secret's env) and KFP's status."""
        return cls(
            url=notify_url or os.environ.get(URL_ENV, ""),
            state=state or "SUCCEEDED",
            error=error_message or "",
            link_base=os.environ.get(KFP_UI_ENV, ""),
            **fields,
        )


@dataclass(frozen=True, kw_only=True)
class NotifyPaths:
    """The file notify writes: the message body it posted (or would have)."""

    message: Path


@dataclass
class Outcome:
    """What the notification says about the run."""

    pipeline: str
    run_id: str
    status: str  # succeeded | failed
    decision: str  # first-model, promote, reject, skip, ok, alert, retrain or unknown
    model_name: str
    model_version: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    reasons: str = ""
    link: str = ""
    error: str = ""


@dataclass
class NotifyOutput:
    """Whether the message went out."""

    sent: bool
    status_code: int | None
    problem: str  # why it was not sent; empty when sent or when no URL was given
    outcome: Outcome


def outcome_of(params: NotifyParams, records: Any) -> Outcome:
    """The outcome from KFP's state and the run's MLflow records (`tracking.outcome.PipelineRecords`).

    A registered version carries compare's decision; a training run with no version in a
    succeeded run was rejected (register runs for every other decision); a drift or monitoring
    run carries its own decision (skip, ok, alert, retrain).
    """
    status = SUCCEEDED if params.state.upper() in ("SUCCEEDED", "SKIPPED") else FAILED
    training = [r for r in records.runs if r.experiment == TRAINING_EXPERIMENT]
    gates = [r for r in records.runs if r.experiment != TRAINING_EXPERIMENT and lineage.DECISION in r.tags]
    version = records.versions[-1] if records.versions else None
    decision, reasons = "unknown", ""
    if version is not None:
        decision, reasons = (
            version.get(lineage.DECISION, "unknown"),
            version.get(lineage.DECISION_REASONS, ""),
        )
    elif training and status == SUCCEEDED:
        decision = "reject"
    elif gates:
        decision, reasons = gates[-1].tags[lineage.DECISION], gates[-1].tags.get(lineage.DECISION_REASONS, "")
    metrics = {}
    if training:
        metrics = {k[5:]: v for k, v in training[-1].metrics.items() if k.startswith("test_")}
    return Outcome(
        pipeline=params.pipeline,
        run_id=params.pipeline_run_id,
        status=status,
        decision=decision,
        model_name=params.model_name,
        model_version=version["version"] if version else None,
        metrics=metrics,
        reasons=reasons,
        link=run_link(params),
        error=failure_cause(params) if status == FAILED else "",
    )


def local_run_dir(pipeline_run_id: str) -> Path:
    """Where `kfp-ct run` keeps this run's log and report (`kfp_ct.localrun.runs_dir()/<id>`)."""
    return settings.home() / "runs" / pipeline_run_id


def run_link(params: NotifyParams) -> str:
    """The KFP UI run page on a cluster; locally the run report `kfp-ct run` writes."""
    if params.link_base and params.pipeline_job_id:
        return f"{params.link_base.rstrip('/')}/#/runs/details/{params.pipeline_job_id}"
    return str(local_run_dir(params.pipeline_run_id) / "report.html")


def failure_cause(params: NotifyParams) -> str:
    """Why the run failed: the failing step's marker line in the local run log, else KFP's error.

    kfp.local 2.17 tells an exit task only "Task exit-handler-1 failed."; `kfp-ct run` logs each
    step's failure marker (`kfp_ct.logs`) to `runs/<id>/run.log` before the exit task starts.
    """
    log_path = local_run_dir(params.pipeline_run_id) / "run.log"
    if params.pipeline_run_id and log_path.is_file():
        found = failure_from_output(log_path.read_text(encoding="utf-8", errors="replace"))
        if found:
            return f"step '{found[0]}' failed: {found[1]}"
    return params.error or f"the pipeline ended {params.state}"


def summary_line(o: Outcome) -> str:
    """One line: pipeline, status, decision, model version."""
    version = f" v{o.model_version}" if o.model_version else ""
    return f"kfp-ct {o.pipeline} {o.status}: {o.decision} ({o.model_name}{version})"


def json_message(o: Outcome) -> dict[str, Any]:
    """The generic JSON body: every outcome field plus the summary line."""
    return {"text": summary_line(o), **asdict(o)}


def slack_message(o: Outcome) -> dict[str, Any]:
    """A Slack-compatible body: `text` (the fallback line) and Block Kit `blocks`."""
    facts = [f"*Run*: `{o.run_id}`", f"*Decision*: {o.decision}"]
    if o.model_version:
        facts.append(f"*Version*: {o.model_name} v{o.model_version}")
    if o.metrics:
        facts.append("*Metrics*: " + ", ".join(f"{k}={v:.4f}" for k, v in sorted(o.metrics.items())))
    if o.reasons:
        facts.append(f"*Reasons*: {o.reasons[:500]}")
    if o.link:
        facts.append(f"*Link*: {o.link}")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": summary_line(o)[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(facts)}},
    ]
    if o.error:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*Error*: ```{o.error[:2500]}```"}}
        )
    return {"text": summary_line(o), "blocks": blocks}


def build_message(o: Outcome, notify_format: str) -> dict[str, Any]:
    """The body in `notify_format` (slack or json); ValueError names an unknown format."""
    if notify_format not in FORMATS:
        raise ValueError(f"notify_format '{notify_format}' is not one of {list(FORMATS)}")
    return slack_message(o) if notify_format == "slack" else json_message(o)


def redact(url: str) -> str:
    """The URL without its secret parts: scheme and host only (webhook paths are secrets)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<malformed URL>"
    if not parts.scheme or not host:
        return "<malformed URL>"
    return (
        f"{parts.scheme}://{host}{port}/***"
        if parts.path.strip("/") or parts.query
        else f"{parts.scheme}://{host}{port}"
    )


def post(url: str, body: dict[str, Any], timeout_s: float, attempts: int) -> tuple[int | None, str]:
    """POST `body` as JSON; (status code, "") on a 2xx answer, else (last code or None, problem).

    Retries connection errors, timeouts and 5xx/429 answers with a short backoff; never raises.
    """
    import httpx

    shown = redact(url)
    if shown == "<malformed URL>" or urlsplit(url).scheme not in ("http", "https"):
        return None, f"notify URL {shown} is not an http(s) URL"
    code, problem = None, ""
    for attempt in range(1, max(attempts, 1) + 1):
        try:
            answer = httpx.post(url, json=body, timeout=timeout_s)
        except httpx.HTTPError as exc:
            code, problem = None, f"{type(exc).__name__} posting to {shown}"
        else:
            code = answer.status_code
            if answer.is_success:
                return code, ""
            problem = f"{shown} answered {code}"
            if code < 500 and code != 429:
                break
        if attempt < attempts:
            time.sleep(0.25 * 2 ** (attempt - 1))
    return code, problem


def _records(params: NotifyParams) -> Any:
    """The run's MLflow records; empty ones (with a warning) when MLflow cannot be read.

    With no URL nothing is sent, so MLflow is not read: the exit task of a run that notifies
    nobody stays cheap (no MLflow import, no search).
    """
    from kfp_ct.tracking.outcome import PipelineRecords, pipeline_records

    if not params.pipeline_run_id or not params.url:
        return PipelineRecords()
    try:
        return pipeline_records(params.pipeline_run_id, params.model_name)
    except Exception as exc:  # the notification goes out with what KFP told us
        log.warning("run records not read from MLflow: %s: %s", type(exc).__name__, exc)
        return PipelineRecords()


def run(params: NotifyParams, paths: NotifyPaths) -> NotifyOutput:
    """Build the run's notification, write it to `paths.message` and post it; never raise."""
    outcome = outcome_of(params, _records(params))
    log.info("%s", summary_line(outcome))
    try:
        body = build_message(outcome, params.notify_format)
    except ValueError as exc:
        log.warning("notification not sent: %s", exc)
        return NotifyOutput(False, None, str(exc), outcome)
    paths.message.parent.mkdir(parents=True, exist_ok=True)
    paths.message.write_text(json.dumps(body, indent=2))
    if not params.url:
        log.info("no notify URL (parameter notify_url or Secret kfp-ct-notify): nothing sent")
        return NotifyOutput(False, None, "", outcome)
    code, problem = post(params.url, body, params.timeout_s, params.attempts)
    if problem:
        log.warning("notification not sent: %s", problem)
        return NotifyOutput(False, code, problem, outcome)
    log.info("notification sent to %s (%s)", redact(params.url), code)
    return NotifyOutput(True, code, "", outcome)
