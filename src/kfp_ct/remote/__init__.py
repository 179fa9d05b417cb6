"""Submitting and scheduling the project's pipelines on a Kubeflow Pipelines cluster.

Thin, typed wrappers over ``kfp.Client`` (imported lazily) that upload idempotently, name
versions ``<package version>-<hash8>``, validate six-field KFP cron, and turn every API failure
into a one-line ``RemoteError`` saying what to fix.
"""

from kfp_ct.errors import RemoteError, RunFailedError
from kfp_ct.remote.connection import ConnectionOptions, connect, probe
from kfp_ct.remote.cron import validate_cron
from kfp_ct.remote.pipelines import UploadResult, compile_named, upload, version_name
from kfp_ct.remote.runs import RunResult, create_run, ensure_experiment, wait_for_run
from kfp_ct.remote.schedules import (
    Schedule,
    create_schedule,
    delete_schedule,
    list_schedules,
    set_schedule_enabled,
)
from kfp_ct.remote.submit import parse_run_params, schedule, submit, upload_pipeline

__all__ = [
    "ConnectionOptions",
    "RemoteError",
    "RunFailedError",
    "RunResult",
    "Schedule",
    "UploadResult",
    "compile_named",
    "connect",
    "create_run",
    "create_schedule",
    "delete_schedule",
    "ensure_experiment",
    "list_schedules",
    "parse_run_params",
    "probe",
    "schedule",
    "set_schedule_enabled",
    "submit",
    "upload",
    "upload_pipeline",
    "validate_cron",
    "version_name",
    "wait_for_run",
]
