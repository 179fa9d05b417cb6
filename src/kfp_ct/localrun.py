"""Run a pipeline on this machine with KFP's own local runner (no cluster, no Docker).

Steps run as subprocesses of this Python (`SubprocessRunner(use_venv=False)`), reading the same
`KFP_CT_HOME` and `MLFLOW_TRACKING_URI` as this process. The summary is read back from MLflow.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from kfp_ct import lineage, settings
from kfp_ct.errors import KfpCtError
from kfp_ct.logs import failure_from_output

log = logging.getLogger(__name__)


class PipelineFailed(KfpCtError):
    """A step failed; the message names the step and the cause."""


@dataclass
class RunSummary:
    """The `--json` contract of `kfp-ct run`."""

    pipeline: str
    run_id: str
    decision: str
    model_name: str
    model_version: str | None
    champion_version: str | None
    endpoint: str | None
    metrics: dict[str, float]
    wall_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict."""
        out = {k: v for k, v in self.__dict__.items() if k != "extra"}
        return {**out, **self.extra}

    def render(self) -> str:
        """A human-readable summary."""
        return render(self)


class _Tee(io.TextIOBase):
    """Write through to a stream and keep a copy."""

    def __init__(self, stream: TextIO) -> None:
        self.stream, self.buffer_ = stream, io.StringIO()

    def write(self, text: str) -> int:
        self.stream.write(text)
        self.buffer_.write(text)
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


def prepare_environment() -> None:
    """Export the resolved home and tracking URI so every step subprocess uses the same ones."""
    home = settings.home()
    home.mkdir(parents=True, exist_ok=True)
    os.environ[settings.HOME_ENV] = str(home)
    os.environ[settings.TRACKING_ENV] = settings.tracking_uri()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")


def run_pipeline(name: str, arguments: dict[str, Any], echo: TextIO | None = None) -> tuple[Any, float]:
    """Run pipeline `name` locally; return (its output, wall seconds). Raise PipelineFailed."""
    from kfp import local

    from kfp_ct.pipelines import get_pipeline

    prepare_environment()
    pipeline = get_pipeline(name)
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(settings.pipeline_root()),
        raise_on_error=True,
    )
    tee = _Tee(echo or sys.stdout)
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(tee):
            output = pipeline(**arguments)
    except RuntimeError as exc:
        found = failure_from_output(tee.buffer_.getvalue())
        if found:
            raise PipelineFailed(f"step '{found[0]}' failed: {found[1]}") from None
        raise PipelineFailed(" ".join(str(exc).split())) from None
    return output, time.perf_counter() - start


def find_run_version(model_name: str, run_id: str) -> str | None:
    """The registry version this pipeline run registered, if any."""
    import mlflow

    from kfp_ct import tracking

    tracking.connect()
    client = mlflow.MlflowClient()
    try:
        found = client.search_model_versions(
            f"name = '{model_name}' and tags.`{lineage.PIPELINE_RUN_ID}` = '{run_id}'"
        )
    except Exception:  # registered model missing
        return None
    return str(max(int(v.version) for v in found)) if found else None


def latest_run_id(pipeline: str) -> str:
    """The newest local run directory of `pipeline` under the pipeline root (its job name)."""
    root = settings.pipeline_root()
    runs = sorted((p for p in root.glob(f"{pipeline}-*") if p.is_dir()), key=lambda p: p.stat().st_mtime)
    return runs[-1].name if runs else ""


def _run_metrics(run_id: str) -> dict[str, float]:
    import mlflow

    from kfp_ct import tracking

    tracking.connect()
    runs = mlflow.search_runs(
        search_all_experiments=True,
        filter_string=f"tags.`{lineage.PIPELINE_RUN_ID}` = '{run_id}'",
        output_format="list",
    )
    if not runs:
        return {}
    values = runs[0].data.metrics
    return {k.removeprefix("test_"): v for k, v in sorted(values.items()) if k.startswith("test_")}


def _output_value(output: Any) -> str:
    return str(getattr(output, "output", output) if output is not None else "")


def summarize(pipeline: str, arguments: dict[str, Any], output: Any, seconds: float) -> RunSummary:
    """Read the run's outcome back from the pipeline output, MLflow and the local server."""
    from kfp_ct import registry
    from kfp_ct.deploy.local import LocalTarget

    model_name = arguments.get("model_name", settings.DEFAULT_MODEL_NAME)
    run_id = latest_run_id(pipeline)
    aliases = registry.aliases(model_name)
    endpoint = (
        LocalTarget().current_endpoint(model_name) if arguments.get("deploy_target") == "local" else None
    )
    return RunSummary(
        pipeline=pipeline,
        run_id=run_id,
        decision=_output_value(output),
        model_name=model_name,
        model_version=find_run_version(model_name, run_id),
        champion_version=aliases.get(lineage.CHAMPION),
        endpoint=endpoint,
        metrics=_run_metrics(run_id),
        wall_seconds=round(seconds, 2),
    )


def render(summary: RunSummary) -> str:
    """A human-readable summary."""
    lines = [
        f"pipeline   {summary.pipeline} ({summary.run_id}) in {summary.wall_seconds:.1f} s",
        f"decision   {summary.decision}",
        f"model      {summary.model_name} v{summary.model_version or '-'} "
        f"(champion v{summary.champion_version or '-'})",
        f"endpoint   {summary.endpoint or '-'}",
    ]
    if summary.endpoint:
        lines.append(f"           POST {summary.endpoint}/v2/models/{summary.model_name}/infer")
    if summary.metrics:
        lines.append("metrics    " + ", ".join(f"{k}={v:.4f}" for k, v in summary.metrics.items()))
    return "\n".join(lines)
