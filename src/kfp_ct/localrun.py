"""Run a pipeline on this machine with KFP's own local runner (no cluster, no Docker).

Steps run as subprocesses of this Python (`SubprocessRunner(use_venv=False)`), reading the same
`KFP_CT_HOME` and `MLFLOW_TRACKING_URI` as this process. The summary is read back from the
steps' own outputs, the registry and the local server.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from kfp_ct import lineage, settings
from kfp_ct.errors import PipelineFailed
from kfp_ct.logs import failure_from_output

log = logging.getLogger(__name__)


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
        lines = [
            f"pipeline   {self.pipeline} ({self.run_id}) in {self.wall_seconds:.1f} s",
            f"decision   {self.decision}",
            f"model      {self.model_name} v{self.model_version or '-'} "
            f"(champion v{self.champion_version or '-'})",
            f"endpoint   {self.endpoint or '-'}",
        ]
        if self.endpoint:
            lines.append(f"           POST {self.endpoint}/v2/models/{self.model_name}/infer")
        if self.metrics:
            lines.append("metrics    " + ", ".join(f"{k}={v:.4f}" for k, v in self.metrics.items()))
        if "drift" in self.extra:
            drift = self.extra["drift"]
            lines.append(
                f"drift      {drift.get('decision')}: share {drift.get('share')}, "
                f"drifted {drift.get('drifted_features')}"
            )
        return "\n".join(lines)


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


def run_pipeline(name: str, arguments: dict[str, Any], echo: TextIO | None = None) -> tuple[Path, float]:
    """Run pipeline `name` locally; return (its run directory, wall seconds). Raise PipelineFailed.

    Each call gets its own pipeline root, so concurrent runs in one home never mix outputs.
    """
    from kfp import local

    from kfp_ct.pipelines import get_pipeline

    prepare_environment()
    pipeline = get_pipeline(name)
    root = settings.pipeline_root() / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    root.mkdir(parents=True)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root), raise_on_error=True)
    tee = _Tee(echo or sys.stdout)
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(tee):
            pipeline(**arguments)
    except RuntimeError as exc:
        found = failure_from_output(tee.buffer_.getvalue())
        if found:
            raise PipelineFailed(f"step '{found[0]}' failed: {found[1]}") from None
        raise PipelineFailed(" ".join(str(exc).split())) from None
    runs = [p for p in root.iterdir() if p.is_dir()]
    if len(runs) != 1:
        raise PipelineFailed(f"expected one run directory under {root}, found {len(runs)}")
    return runs[0], time.perf_counter() - start


def task_outputs(run_dir: Path, task: str) -> dict[str, Any] | None:
    """Parameter outputs of `task` in a local run (None when the task did not run)."""
    path = run_dir / task / "executor_output.json"
    if not path.exists():
        return None
    return json.loads(path.read_text()).get("parameterValues", {})


def summarize(pipeline: str, arguments: dict[str, Any], run_dir: Path, seconds: float) -> RunSummary:
    """Read the run's outcome from its task outputs, the registry and the local server."""
    from kfp_ct.deploy.targets.local import LocalTarget
    from kfp_ct.tracking import registry

    model_name = arguments.get("model_name", settings.DEFAULT_MODEL_NAME)
    compare = task_outputs(run_dir, "compare") or {}
    registered = task_outputs(run_dir, "register") or {}
    evaluated = task_outputs(run_dir, "evaluate") or {}
    endpoint = None
    if arguments.get("deploy_target") == "local":
        endpoint = LocalTarget().current_endpoint(model_name)
    extra: dict[str, Any] = {}
    drift = task_outputs(run_dir, "drift-check")
    if drift is not None:
        extra["drift"] = json.loads(drift.get("summary") or "{}")
    return RunSummary(
        pipeline=pipeline,
        run_id=run_dir.name,
        decision=compare.get("Output") or extra.get("drift", {}).get("decision") or "unknown",
        model_name=model_name,
        model_version=registered.get("model_version"),
        champion_version=registry.aliases(model_name).get(lineage.CHAMPION),
        endpoint=endpoint,
        metrics=json.loads(evaluated.get("metrics_json") or "{}"),
        wall_seconds=round(seconds, 2),
        extra=extra,
    )
