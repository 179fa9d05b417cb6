"""`kfp_ct.localrun.RunLog` and the step display: the runner's output to a file, steps to one line each."""

from __future__ import annotations

import io

from rich.console import Console

from kfp_ct.cli.progress import StepDisplay
from kfp_ct.localrun import RunLog, StepClock

RUNNER = [
    "04:04:08.531 - INFO - Executing task \x1b[96m'validate'\x1b[0m\n",
    "    [KFP Executor 2026-12-02 04:04:08,600 INFO]: Got executor_input:\n",
    "    [validate] WARNING warning [region] category: 40 value(s) in unseen categories ['mars']\n",
    "04:04:22.645 - INFO - Task \x1b[96m'validate'\x1b[0m finished with status \x1b[92mSUCCESS\x1b[0m\n",
    "04:04:22.654 - INFO - Executing task 'train'\n",
    "    Traceback (most recent call last):\n",
    "04:04:25.000 - INFO - Task 'train' finished with status FAILURE\n",
]


def test_the_log_holds_lines_until_the_run_directory_exists_then_writes_everything(tmp_path, monkeypatch):
    monkeypatch.setenv("KFP_CT_HOME", str(tmp_path / "home"))
    root = tmp_path / "root"
    root.mkdir()
    events = []
    sink = RunLog(root, listener=events.append)
    sink.write(RUNNER[0])
    assert sink.path is None and sink.held == [RUNNER[0]]
    (root / "continuous-training-2026").mkdir()
    for line in RUNNER[1:]:
        sink.write(line)
    sink.close()
    assert sink.path == tmp_path / "home" / "runs" / "continuous-training-2026" / "run.log"
    assert sink.path.read_text() == "".join(RUNNER)
    assert [(e.kind, e.task, e.status) for e in events] == [
        ("started", "validate", ""),
        ("warning", "validate", ""),
        ("finished", "validate", "SUCCESS"),
        ("started", "train", ""),
        ("finished", "train", "FAILURE"),
    ]
    assert events[1].message.startswith("warning [region] category")


def test_the_display_prints_one_line_per_step_and_no_runner_output(tmp_path):
    out = io.StringIO()
    display = StepDisplay(Console(file=out, width=100, force_terminal=False), live=False)
    clock = StepClock(display)
    sink = RunLog(tmp_path, listener=clock)
    (tmp_path / "run").mkdir()
    with display:
        for line in RUNNER:
            sink.write(line)
    display.skipped(["deploy"])
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["✓", "validate", f"{lines[0].split()[2]}", "s", "succeeded"]
    assert "['mars']" in lines[1] and lines[2].split()[:2] == ["✗", "train"] and lines[2].endswith("failed")
    assert lines[3].split() == ["-", "deploy", "skipped"] and len(lines) == 4
    assert "Traceback" not in out.getvalue() and "KFP Executor" not in out.getvalue()
    records = clock.records(failed=True)
    assert [(r["name"], r["status"]) for r in records] == [("validate", "succeeded"), ("train", "failed")]


def test_the_server_warmup_starts_a_server_and_stops_it_if_it_serves_nothing(tmp_path, monkeypatch):
    from kfp_ct.deploy.targets import local
    from kfp_ct.localrun import ServerWarmup
    from kfp_ct.serving import spec

    monkeypatch.setenv("KFP_CT_HOME", str(tmp_path))
    calls: list[str] = []
    monkeypatch.setattr(local.LocalTarget, "ensure_server", lambda self, *a: calls.append("start"))
    monkeypatch.setattr(local.LocalTarget, "stop", lambda self, *a: calls.append("stop"))
    monkeypatch.setattr(local, "read_state", lambda: None)
    ServerWarmup.start().finish()  # nothing was deployed: the server it started goes again
    assert calls == ["start", "stop"]
    monkeypatch.setattr(spec, "spec_names", lambda root: ["kfp-ct-model"])
    ServerWarmup.start().finish()  # a model is served: it stays
    assert calls == ["start", "stop", "start"]
    monkeypatch.setattr(local, "read_state", lambda: object())
    ServerWarmup.start().finish()  # one is alive already: nothing to do
    assert calls == ["start", "stop", "start"]
