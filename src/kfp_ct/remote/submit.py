"""One call per CLI action: upload, submit (and follow), schedule."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from kfp_ct.errors import ParameterError
from kfp_ct.params import parse_params
from kfp_ct.remote.connection import ConnectionOptions, connect
from kfp_ct.remote.cron import validate_cron
from kfp_ct.remote.pipelines import (
    UploadResult,
    compile_named,
    package_parameter_types,
    package_pipeline_name,
    upload,
)
from kfp_ct.remote.runs import RunResult, create_run, ensure_experiment, wait_for_run
from kfp_ct.remote.schedules import Schedule, create_schedule

DEFAULT_EXPERIMENT = "kfp-ct"


class _LazyClient:
    """Connects on first use, so that compile and parameter errors come before network ones."""

    def __init__(self, options: ConnectionOptions) -> None:
        self._options = options
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            self._client = connect(self._options)
        return getattr(self._client, name)


def _resolve(pipeline: str | None, package: str | Path | None) -> tuple[Path | None, str]:
    """The package file to upload (None: compile `pipeline`) and the pipeline's name."""
    if package is not None:
        path = Path(package)
        if not path.is_file():
            raise ParameterError(f"--package {path}: no such file")
        return path, pipeline or package_pipeline_name(path)
    if not pipeline:
        raise ParameterError("name a pipeline with --pipeline NAME (or pass --package FILE)")
    return None, pipeline


def _package(
    pipeline: str | None, package: str | Path | None, profile: str | None, workdir: Path
) -> tuple[Path, str]:
    path, name = _resolve(pipeline, package)
    return path or compile_named(name, workdir, profile), name


def parse_run_params(
    pairs: Iterable[str] | None, pipeline: str | None = None, package: str | Path | None = None
) -> dict[str, Any]:
    """Parse ``--param`` pairs with ``kfp_ct.params.parse_params``, before any network call.

    A ``package`` types them by its own ``root.inputDefinitions``; otherwise the project pipeline
    ``pipeline`` types them by its signature, exactly as ``kfp-ct run`` does.

    Raises:
        ParameterError: no pipeline named, a malformed pair, an unknown key or a mistyped value.
    """
    from kfp_ct.pipelines import parameter_types

    path, name = _resolve(pipeline, package)
    return parse_params(pairs, name, package_parameter_types(path) if path else parameter_types(name))


def upload_pipeline(
    options: ConnectionOptions,
    pipeline: str | None = None,
    package: str | Path | None = None,
    profile: str | None = None,
    client: Any = None,
) -> UploadResult:
    """Compile (unless ``package`` is given) and upload a pipeline version idempotently."""
    with tempfile.TemporaryDirectory(prefix="kfp-ct-") as tmp:
        path, name = _package(pipeline, package, profile, Path(tmp))  # local errors first
        client = client or connect(options)
        return upload(client, path, name, options.ui_url, namespace=options.namespace)


def submit(
    options: ConnectionOptions,
    pipeline: str | None = None,
    params: Mapping[str, Any] | None = None,
    *,
    package: str | Path | None = None,
    experiment: str = DEFAULT_EXPERIMENT,
    run_name: str | None = None,
    profile: str | None = None,
    enable_caching: bool | None = None,
    service_account: str | None = None,
    wait: bool = False,
    timeout_s: float = 3600.0,
    poll_s: float = 10.0,
    echo: Callable[[str], None] = print,
) -> tuple[UploadResult, RunResult]:
    """Compile, upload (new version when content changed), create a run, optionally follow it.

    Returns:
        The upload and the run (with its final ``state`` when ``wait``).

    Raises:
        RemoteError: the API is unreachable or refuses a call.
        RunFailedError: with ``wait``, the run failed or timed out.
    """
    client = _LazyClient(options)
    uploaded = upload_pipeline(options, pipeline, package, profile, client=client)
    experiment_id = ensure_experiment(client, experiment, options.namespace)
    run = create_run(
        client,
        experiment_id,
        uploaded.pipeline_id,
        uploaded.version_id,
        params or {},
        options.ui_url,
        run_name=run_name,
        enable_caching=enable_caching,
        service_account=service_account,
    )
    echo(f"run {run.run_name!r} created: {run.url}")
    if wait:
        run = replace(run, state=wait_for_run(client, run.run_id, timeout_s, poll_s, echo))
    return uploaded, run


def schedule(
    options: ConnectionOptions,
    cron: str,
    pipeline: str | None = None,
    params: Mapping[str, Any] | None = None,
    *,
    name: str | None = None,
    package: str | Path | None = None,
    experiment: str = DEFAULT_EXPERIMENT,
    profile: str | None = None,
    max_concurrency: int = 1,
    enable_caching: bool | None = None,
    service_account: str | None = None,
) -> tuple[UploadResult, Schedule, str]:
    """Upload the pipeline and create (or keep, or replace) a cron recurring run.

    The cron is validated before anything is sent. ``name`` defaults to ``<pipeline>-schedule``.

    Returns:
        The upload, the schedule and ``created`` / ``unchanged`` / ``replaced``.
    """
    cron = validate_cron(cron)
    if max_concurrency < 1:
        raise ParameterError(f"--max-concurrency {max_concurrency} must be >= 1")
    client = _LazyClient(options)
    uploaded = upload_pipeline(options, pipeline, package, profile, client=client)
    experiment_id = ensure_experiment(client, experiment, options.namespace)
    sched, outcome = create_schedule(
        client,
        name or f"{uploaded.pipeline_name}-schedule",
        experiment_id,
        uploaded.pipeline_id,
        uploaded.version_id,
        cron,
        params or {},
        namespace=options.namespace,
        max_concurrency=max_concurrency,
        enable_caching=enable_caching,
        service_account=service_account,
    )
    return uploaded, sched, outcome
