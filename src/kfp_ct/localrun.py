"""Run a pipeline on this machine with KFP's own local runner (no cluster, no Docker).

Steps run as subprocesses of this Python (`SubprocessRunner(use_venv=False)`), reading the same
`KFP_CT_HOME` and `MLFLOW_TRACKING_URI` as this process; on Linux each is forked from a server
that imported the steps' libraries once (`kfp_ct.preload`). The summary is read back from the
steps' own outputs, the registry and the local server.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from kfp_ct import lineage, settings
from kfp_ct.errors import KfpCtError, PipelineFailed
from kfp_ct.logs import FAILURE_MARKER, failure_from_output

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
            shown = (f"{k}={int(v)}" if k == "n_rows" else f"{k}={v:.4f}" for k, v in self.metrics.items())
            lines.append("metrics    " + ", ".join(shown))
        if "drift" in self.extra:
            drift = self.extra["drift"]
            lines.append(
                f"drift      {drift.get('decision')}: share {drift.get('share')}, "
                f"drifted {drift.get('drifted_features')}"
            )
        return "\n".join(lines)


ANSI = re.compile(r"\x1b\[[0-9;]*m")
_STARTED = re.compile(r"Executing task '(?P<task>[^']+)'")
_FINISHED = re.compile(r"Task '(?P<task>[^']+)' finished with status (?P<status>[A-Z]+)")
_WARNING = re.compile(r"^\s*\[(?P<step>[\w-]+)\] WARNING (?P<message>.*)$")
# kfp.local warns on every task that the project image is "custom": true and harmless here.
_IMAGE_WARNING = "You may be attemping to run a task that uses custom or non-Python base image"


@dataclass
class StepEvent:
    """A step started, finished (`status` SUCCESS or FAILURE) or warned (`message`)."""

    kind: str  # started | finished | warning
    task: str
    status: str = ""
    message: str = ""
    at: float = 0.0  # time.monotonic()


Listener = Callable[[StepEvent], None]


def runs_dir() -> Path:
    """Where each local run keeps its log, step timings and report: `$KFP_CT_HOME/runs/<run-id>/`."""
    return settings.home() / "runs"


class RunLog(io.TextIOBase):
    """The runner's whole output: into `runs/<run-id>/run.log`, optionally echoed, parsed for events.

    The run id is kfp.local's run directory name, which appears under `root` once the pipeline
    starts; until then lines are held in memory.
    """

    def __init__(self, root: Path, echo: TextIO | None = None, listener: Listener | None = None) -> None:
        self.root, self.echo, self.listener = root, echo, listener
        self.file: TextIO | None = None
        self.path: Path | None = None
        self.held: list[str] = []
        self.partial = ""

    def write(self, text: str) -> int:
        """Log, echo and parse `text`."""
        if self.echo is not None:
            self.echo.write(text)
        self._sink(text)
        self.partial += text
        *lines, self.partial = self.partial.split("\n")
        for line in lines:
            self._parse(ANSI.sub("", line))
        if self.file is not None and any(FAILURE_MARKER in line for line in lines):
            self.file.flush()  # on disk before the exit task (notify) reads the cause
        return len(text)

    def flush(self) -> None:
        """Flush the log and the echo."""
        if self.echo is not None:
            self.echo.flush()
        if self.file is not None:
            self.file.flush()

    def run_id(self) -> str | None:
        """kfp.local's run directory name, once it exists."""
        found = [p.name for p in self.root.iterdir() if p.is_dir()] if self.root.exists() else []
        return found[0] if len(found) == 1 else None

    def open(self, run_id: str) -> Path:
        """Start writing to `runs/<run_id>/run.log` (what was held so far first)."""
        if self.file is None:
            self.path = runs_dir() / run_id / "run.log"
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.file = self.path.open("a", encoding="utf-8")
            self.file.write("".join(self.held))
            self.held = []
        return self.path  # type: ignore[return-value]

    def close(self) -> None:
        """Close the log file."""
        if self.file is not None:
            self.file.close()

    def _sink(self, text: str) -> None:
        if self.file is None:
            found = self.run_id()
            if found is None:
                self.held.append(text)
                return
            self.open(found)
        self.file.write(text)  # type: ignore[union-attr]

    def _parse(self, line: str) -> None:
        if self.listener is None:
            return
        now = time.monotonic()
        if match := _STARTED.search(line):
            self.listener(StepEvent("started", match["task"], at=now))
        elif match := _FINISHED.search(line):
            self.listener(StepEvent("finished", match["task"], match["status"], at=now))
        elif match := _WARNING.match(line):
            self.listener(StepEvent("warning", match["step"], message=match["message"].strip(), at=now))


class _LogHandler(logging.Handler):
    """Root-logger records of this process (kfp.local's own) into the run log."""

    def __init__(self, sink: RunLog) -> None:
        super().__init__(logging.INFO)
        self.sink = sink
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.write(self.format(record) + "\n")


@dataclass
class LocalRun:
    """A finished (or failed) local pipeline run."""

    run_dir: Path | None
    seconds: float
    log_path: Path
    steps: list[dict[str, Any]] = field(default_factory=list)  # name, status, seconds, in run order


def prepare_environment() -> None:
    """Export the resolved home and tracking URI so every step subprocess uses the same ones."""
    home = settings.home()
    home.mkdir(parents=True, exist_ok=True)
    os.environ[settings.HOME_ENV] = str(home)
    os.environ[settings.TRACKING_ENV] = settings.tracking_uri()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")


class StepClock:
    """Step start and end times, from the runner's log events, in run order."""

    def __init__(self, forward: Listener | None = None) -> None:
        self.forward = forward
        self.steps: dict[str, dict[str, Any]] = {}

    def __call__(self, event: StepEvent) -> None:
        """Record `event` and pass it on."""
        if event.kind == "started":
            self.steps[event.task] = {"name": event.task, "status": "running", "started": event.at}
        elif event.kind == "finished" and event.task in self.steps:
            step = self.steps[event.task]
            step["status"] = "succeeded" if event.status == "SUCCESS" else "failed"
            step["seconds"] = round(event.at - step["started"], 2)
        if self.forward is not None:
            self.forward(event)

    def records(self, failed: bool = False) -> list[dict[str, Any]]:
        """name, status (succeeded, failed) and seconds of every step that ran."""
        out = []
        for step in self.steps.values():
            record = {k: v for k, v in step.items() if k != "started"}
            if record["status"] == "running":  # the runner stopped inside it
                record["status"] = "failed" if failed else "succeeded"
                record["seconds"] = round(time.monotonic() - step["started"], 2)
            out.append(record)
        return out


class ServerWarmup:
    """Start this home's local model server while the steps before deploy run.

    A cold server takes seconds (it imports KServe, scikit-learn and MLflow); deploy would
    otherwise start it and wait. `kfp-ct run` starts it once the first step has succeeded, so a
    run that fails validation starts none and the first step has the cores to itself. The deploy
    step finds it alive (the server lock orders the two). A server started here that serves
    nothing when the run ends (it failed before deploy, say) is stopped again.
    """

    def __init__(self, thread: threading.Thread | None) -> None:
        self.thread = thread

    @classmethod
    def start(cls) -> ServerWarmup:
        """Start the server in a thread unless one is alive already."""
        from kfp_ct.deploy.targets.local import LocalTarget, read_state

        if read_state() is not None:
            return cls(None)

        def warm() -> None:
            try:
                LocalTarget().ensure_server()
            except Exception as exc:  # deploy starts it (and reports why it cannot) itself
                log.info("model server warm-up failed: %s", exc)

        thread = threading.Thread(target=warm, name="kfp-ct-server-warmup", daemon=True)
        thread.start()
        return cls(thread)

    def finish(self) -> None:
        """Wait for the warm-up; stop the server it started if that serves nothing."""
        if self.thread is None:
            return
        from kfp_ct.deploy.targets.local import START_TIMEOUT_S, LocalTarget, repository_dir
        from kfp_ct.serving.spec import spec_names

        self.thread.join(START_TIMEOUT_S)
        if not spec_names(repository_dir()):
            LocalTarget().stop()


def run_pipeline(
    name: str,
    arguments: dict[str, Any],
    echo: TextIO | None = None,
    listener: Listener | None = None,
) -> LocalRun:
    """Run pipeline `name` locally; return where it ran and how long each step took.

    The runner's whole output goes to `runs/<run-id>/run.log` (and to `echo` when given);
    `listener` sees each step start, finish and warn. Each call gets its own pipeline root, so
    concurrent runs in one home never mix outputs. Raises PipelineFailed naming the failing
    step, its one-line cause and the log (`exc.run` holds the LocalRun).
    """
    from kfp_ct.preload import preloaded_steps

    prepare_environment()
    with preloaded_steps():
        return _run_pipeline(name, arguments, echo, listener)


def _run_pipeline(
    name: str, arguments: dict[str, Any], echo: TextIO | None, listener: Listener | None
) -> LocalRun:
    from kfp import local

    from kfp_ct.pipelines import get_pipeline

    warm: ServerWarmup | None = None
    events = listener
    if arguments.get("deploy_target") == "local":  # KFP_CT_PORT set and taken: fail before training
        from kfp_ct.deploy.targets.local import preflight

        preflight()

        decided = False  # by the first step to finish, not by the exit handler that runs after a failure

        def events(event: StepEvent) -> None:  # warm up once the first step succeeded
            nonlocal warm, decided
            if event.kind == "finished" and not decided:
                decided = True
                if event.status == "SUCCESS":
                    warm = ServerWarmup.start()
            if listener is not None:
                listener(event)

    pipeline = get_pipeline(name)
    root = settings.pipeline_root() / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    root.mkdir(parents=True)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root), raise_on_error=True)
    clock = StepClock(events)
    sink = RunLog(root, echo, clock)
    handler = _LogHandler(sink)
    logger = logging.getLogger()
    saved = logger.handlers[:]
    logger.handlers[:] = [handler]
    start = time.perf_counter()
    error: str | None = None
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink):
            warnings.filterwarnings("ignore", message=_IMAGE_WARNING)
            pipeline(**arguments)
    except RuntimeError as exc:
        found = failure_from_output("".join(sink.held) + _log_text(sink))
        error = f"step '{found[0]}' failed: {found[1]}" if found else " ".join(str(exc).split())
    finally:
        logger.handlers[:] = saved
        if warm is not None:
            warm.finish()
        sink.write(sink.partial and "\n")
        log_path = sink.open(sink.run_id() or root.name)
        sink.close()
    seconds = time.perf_counter() - start
    runs = [p for p in root.iterdir() if p.is_dir()]
    run = LocalRun(runs[0] if len(runs) == 1 else None, seconds, log_path, clock.records(error is not None))
    if error is None and run.run_dir is None:
        error = f"expected one run directory under {root}, found {len(runs)}"
    if error is not None:
        failed = PipelineFailed(error)
        failed.run = run  # type: ignore[attr-defined]
        raise failed
    return run


def _log_text(sink: RunLog) -> str:
    """What the run log holds so far (for the failure marker)."""
    if sink.path is None:
        return ""
    sink.flush()
    return sink.path.read_text(encoding="utf-8", errors="replace")


def task_outputs(run_dir: Path, task: str) -> dict[str, Any] | None:
    """Parameter outputs of `task` in a local run (None when the task did not run)."""
    path = run_dir / task / "executor_output.json"
    if not path.exists():
        return None
    return json.loads(path.read_text()).get("parameterValues", {})


def gate_summaries(run_dir: Path) -> dict[str, Any]:
    """The drift check's and the monitor's summaries in a local run (the ones that ran)."""
    out: dict[str, Any] = {}
    for key, task in (("drift", "drift-check"), ("monitor", "monitor")):
        found = task_outputs(run_dir, task)
        if found is not None:
            out[key] = json.loads(found.get("summary") or "{}")
    return out


def decision_of(run_dir: Path) -> str:
    """A local run's decision: compare's, else the drift check's, else the monitor's (or unknown).

    The pipelines return no output (their bodies run in the notification's ExitHandler), so this
    reads the tasks' own outputs under the run directory (`<pipeline_root>/<run>/<task>/`).
    """
    return _decision(task_outputs(run_dir, "compare") or {}, gate_summaries(run_dir))


def _decision(compare: dict[str, Any], gates: dict[str, Any]) -> str:
    return (
        compare.get("Output")
        or gates.get("drift", {}).get("decision")
        or gates.get("monitor", {}).get("decision")
        or "unknown"
    )


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
    extra = gate_summaries(run_dir)
    return RunSummary(
        pipeline=pipeline,
        run_id=run_dir.name,
        decision=_decision(compare, extra),
        model_name=model_name,
        model_version=registered.get("model_version"),
        champion_version=registry.aliases(model_name).get(lineage.CHAMPION),
        endpoint=endpoint,
        metrics=json.loads(evaluated.get("metrics_json") or "{}"),
        wall_seconds=round(seconds, 2),
        extra=extra,
    )


RUN_RECORD = "run.json"
REPORT_FILE = "report.html"
# Where each step wrote the files the report reads (kfp.local: <run dir>/<task>/<output name>).
REPORT_INPUTS = {
    "validation": ("validate", "validation"),
    "evaluation": ("evaluate", "evaluation"),
    "decision_record": ("compare", "decision_record"),
    "drift_report": ("drift-check", "report"),
}


def pipeline_tasks(name: str) -> list[str]:
    """The task names of pipeline `name`, nested ones (under conditions) included."""
    from kfp_ct.pipelines import get_pipeline

    spec = get_pipeline(name).pipeline_spec
    components = spec.components
    names: list[str] = []

    def walk(dag) -> None:
        for task_name, task in dag.tasks.items():
            component = components.get(task.component_ref.name)
            if component is not None and component.WhichOneof("implementation") == "dag":
                walk(component.dag)
            else:
                names.append(task_name)

    walk(spec.root.dag)
    return names


def record_run(
    run: LocalRun, pipeline: str, arguments: dict[str, Any], summary: RunSummary | None, error: str = ""
) -> Path:
    """Write `runs/<run-id>/run.json`: what `kfp-ct report` needs to build the page again."""
    ran = {s["name"] for s in run.steps}
    skipped = [{"name": t, "status": "skipped"} for t in pipeline_tasks(pipeline) if t not in ran]
    record = {
        "pipeline": pipeline,
        "run_id": run.log_path.parent.name,
        "run_dir": str(run.run_dir) if run.run_dir else "",
        "status": "failed" if error else "succeeded",
        "error": error,
        "wall_seconds": round(run.seconds, 2),
        "steps": [*run.steps, *skipped],
        "arguments": {k: v for k, v in arguments.items() if isinstance(v, str | int | float | bool)},
        "summary": summary.to_dict() if summary else None,
    }
    path = run.log_path.parent / RUN_RECORD
    path.write_text(json.dumps(record, indent=2))
    return path


def latest_run_id() -> str | None:
    """The newest run of this home that has a record."""
    found = sorted(runs_dir().glob(f"*/{RUN_RECORD}"), key=lambda p: p.stat().st_mtime)
    return found[-1].parent.name if found else None


def write_report(run_id: str | None = None) -> Path:
    """Build `runs/<run-id>/report.html` (default: the newest run) from the run's files; return it."""
    from kfp_ct.steps.report import ReportParams, ReportPaths, lineage_rows, run

    run_id = run_id or latest_run_id()
    folder = runs_dir() / (run_id or "")
    if not run_id or not (folder / RUN_RECORD).is_file():
        known = sorted(p.parent.name for p in runs_dir().glob(f"*/{RUN_RECORD}"))[-5:]
        raise KfpCtError(
            f"no local run '{run_id or ''}' under {runs_dir()}"
            + (f"; recent runs: {', '.join(known)}" if known else "; run `kfp-ct run` first")
        )
    record = json.loads((folder / RUN_RECORD).read_text())
    run_dir = Path(record["run_dir"]) if record.get("run_dir") else None
    files = {}
    for key, (task, name) in REPORT_INPUTS.items():
        path = run_dir / task / name if run_dir else None
        files[key] = path if path is not None and path.exists() else None
    arguments = record.get("arguments", {})
    summary = record.get("summary") or {}
    validated = (task_outputs(run_dir, "validate") or {}) if run_dir else {}
    trained = (task_outputs(run_dir, "train") or {}) if run_dir else {}
    drift = (task_outputs(run_dir, "drift-check") or {}) if run_dir else {}
    model_name = arguments.get("model_name", settings.DEFAULT_MODEL_NAME)
    rows = lineage_rows(
        model_name,
        record["run_id"],
        trained.get("run_id", ""),
        arguments.get("data_uri", ""),
        validated.get("data_hash", ""),
        model_version=summary.get("model_version"),
        champion_version=summary.get("champion_version"),
        endpoint=summary.get("endpoint"),
        run_log=str(folder / "run.log"),
    )
    params = ReportParams(
        title=f"{record['pipeline']}: {record['run_id']}",
        status=record["status"],
        error=record.get("error", ""),
        steps=record["steps"],
        lineage=rows,
        drift_summary=json.loads(drift.get("summary") or "{}") if drift else {},
    )
    return run(params, ReportPaths(report=folder / REPORT_FILE, **files)).path
