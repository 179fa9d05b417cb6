"""Experiments, runs and following a run to its end."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from kfp_ct.errors import RemoteError, RunFailedError
from kfp_ct.remote.connection import calling

TERMINAL_STATES = ("SUCCEEDED", "SKIPPED", "FAILED", "CANCELED")
OK_STATES = ("SUCCEEDED", "SKIPPED")


@dataclass(frozen=True)
class RunResult:
    """A created run."""

    run_id: str
    run_name: str
    experiment_id: str
    url: str
    state: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return asdict(self)


def ensure_experiment(client: Any, name: str, namespace: str | None = None) -> str:
    """Return the id of the experiment with this name, creating it when missing."""
    with calling(f"creating or finding experiment {name!r}"):
        experiment = client.create_experiment(name=name, namespace=namespace)
    return experiment.experiment_id


def create_run(
    client: Any,
    experiment_id: str,
    pipeline_id: str,
    version_id: str,
    params: Mapping[str, Any],
    ui_url: str,
    run_name: str | None = None,
    enable_caching: bool | None = None,
    service_account: str | None = None,
) -> RunResult:
    """Create a run of an uploaded pipeline version with runtime parameters."""
    name = run_name or f"kfp-ct {datetime.now(UTC):%Y-%m-%d %H-%M-%S}"
    with calling("creating the run"):
        run = client.run_pipeline(
            experiment_id=experiment_id,
            job_name=name,
            params=dict(params),
            pipeline_id=pipeline_id,
            version_id=version_id,
            enable_caching=enable_caching,
            service_account=service_account,
        )
    return RunResult(run.run_id, name, experiment_id, f"{ui_url}/#/runs/details/{run.run_id}")


def _state(run: Any) -> str:
    state = str(getattr(run, "state", None) or "PENDING")
    return state.upper()


def wait_for_run(
    client: Any,
    run_id: str,
    timeout_s: float = 3600.0,
    poll_s: float = 10.0,
    echo: Callable[[str], None] = print,
) -> str:
    """Poll a run until it ends, echoing each state change; return the final state.

    Raises:
        RunFailedError: the run ended FAILED/CANCELED, or did not end within ``timeout_s``.
    """
    started = time.monotonic()
    last = None
    while True:
        with calling(f"reading run {run_id}"):
            run = client.get_run(run_id)
        state = _state(run)
        if state != last:
            echo(f"run {run_id}: {state} after {time.monotonic() - started:.0f} s")
            last = state
        if state in TERMINAL_STATES:
            if state not in OK_STATES:
                message = getattr(getattr(run, "error", None), "message", None)
                detail = f": {message}" if message else ""
                raise RunFailedError(f"run {run_id} ended {state}{detail}")
            return state
        if time.monotonic() - started > timeout_s:
            raise RunFailedError(
                f"run {run_id} still {state} after {timeout_s:g} s: raise --timeout or follow it in the UI"
            )
        time.sleep(poll_s)


__all__ = [
    "OK_STATES",
    "TERMINAL_STATES",
    "RemoteError",
    "RunFailedError",
    "RunResult",
    "create_run",
    "ensure_experiment",
    "wait_for_run",
]
