"""Recurring runs: create idempotently by name, list, pause, resume, delete."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from kfp_ct.errors import ParameterError
from kfp_ct.remote.connection import calling
from kfp_ct.remote.cron import validate_cron


@dataclass(frozen=True)
class Schedule:
    """A recurring run as shown by ``kfp-ct schedule list``."""

    recurring_run_id: str
    name: str
    cron: str | None
    mode: str
    max_concurrency: int | None
    no_catchup: bool | None
    pipeline_version_id: str | None
    status: str | None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return asdict(self)


def _to_schedule(rr: Any) -> Schedule:
    trigger = getattr(rr, "trigger", None)
    cron = getattr(getattr(trigger, "cron_schedule", None), "cron", None)
    ref = getattr(rr, "pipeline_version_reference", None)
    concurrency = getattr(rr, "max_concurrency", None)
    return Schedule(
        recurring_run_id=rr.recurring_run_id,
        name=rr.display_name,
        cron=cron,
        mode=str(getattr(rr, "mode", None) or "ENABLE"),
        max_concurrency=int(concurrency) if concurrency not in (None, "") else None,
        no_catchup=getattr(rr, "no_catchup", None),
        pipeline_version_id=getattr(ref, "pipeline_version_id", None),
        status=str(getattr(rr, "status", None) or "") or None,
    )


def list_schedules(
    client: Any, namespace: str | None = None, experiment_id: str | None = None
) -> list[Schedule]:
    """Return every recurring run (all pages) in a namespace or experiment."""
    out: list[Schedule] = []
    token = ""
    while True:
        with calling("listing recurring runs"):
            page = client.list_recurring_runs(
                page_token=token, page_size=100, namespace=namespace, experiment_id=experiment_id
            )
        out.extend(_to_schedule(rr) for rr in page.recurring_runs or [])
        token = page.next_page_token or ""
        if not token:
            return out


def find_schedule(client: Any, name_or_id: str, namespace: str | None = None) -> Schedule:
    """Return the recurring run with this name or id.

    Raises:
        ParameterError: none matches, or the name is ambiguous.
    """
    schedules = list_schedules(client, namespace=namespace)
    matches = [s for s in schedules if name_or_id in (s.name, s.recurring_run_id)]
    if not matches:
        known = sorted(s.name for s in schedules)
        raise ParameterError(f"no recurring run named {name_or_id!r}: existing ones are {known}")
    if len(matches) > 1:
        ids = [s.recurring_run_id for s in matches]
        raise ParameterError(f"{len(matches)} recurring runs are named {name_or_id!r}: use an id {ids}")
    return matches[0]


def create_schedule(
    client: Any,
    name: str,
    experiment_id: str,
    pipeline_id: str,
    version_id: str,
    cron: str,
    params: Mapping[str, Any],
    namespace: str | None = None,
    max_concurrency: int = 1,
    enable_caching: bool | None = None,
    service_account: str | None = None,
) -> tuple[Schedule, str]:
    """Create a recurring run with a cron trigger, ``max_concurrency`` and no catch-up.

    Idempotent by name: an existing recurring run with the same cron, version and parameters is
    kept; one that differs is deleted and re-created (KFP cannot update recurring runs).

    Returns:
        The schedule and what happened: ``created``, ``unchanged`` or ``replaced``.
    """
    cron = validate_cron(cron)
    existing = [s for s in list_schedules(client, namespace=namespace) if s.name == name]
    outcome = "created"
    for old in existing:
        with calling(f"reading recurring run {old.recurring_run_id}"):
            full = client.get_recurring_run(old.recurring_run_id)
        old_params = getattr(getattr(full, "runtime_config", None), "parameters", None) or {}
        same = (
            old.cron == cron
            and old.pipeline_version_id == version_id
            and json.dumps(old_params, sort_keys=True) == json.dumps(dict(params), sort_keys=True)
            and old.max_concurrency == max_concurrency
        )
        if same and len(existing) == 1:
            return old, "unchanged"
        with calling(f"deleting outdated recurring run {old.recurring_run_id}"):
            client.delete_recurring_run(old.recurring_run_id)
        outcome = "replaced"
    with calling(f"creating recurring run {name!r}"):
        rr = client.create_recurring_run(
            experiment_id=experiment_id,
            job_name=name,
            cron_expression=cron,
            max_concurrency=max_concurrency,
            no_catchup=True,
            params=dict(params),
            pipeline_id=pipeline_id,
            version_id=version_id,
            enable_caching=enable_caching,
            service_account=service_account,
        )
    return _to_schedule(rr), outcome


def set_schedule_enabled(
    client: Any, name_or_id: str, enabled: bool, namespace: str | None = None
) -> Schedule:
    """Resume (enable) or pause (disable) a recurring run by name or id."""
    schedule = find_schedule(client, name_or_id, namespace)
    verb = "enabling" if enabled else "disabling"
    with calling(f"{verb} recurring run {schedule.name!r}"):
        if enabled:
            client.enable_recurring_run(schedule.recurring_run_id)
        else:
            client.disable_recurring_run(schedule.recurring_run_id)
    return schedule


def delete_schedule(client: Any, name_or_id: str, namespace: str | None = None) -> Schedule:
    """Delete a recurring run by name or id."""
    schedule = find_schedule(client, name_or_id, namespace)
    with calling(f"deleting recurring run {schedule.name!r}"):
        client.delete_recurring_run(schedule.recurring_run_id)
    return schedule
