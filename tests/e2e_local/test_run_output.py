"""What a person sees from `kfp-ct run`: one line per step with its time, a short summary, the log.

The runner's whole output (executor JSON, artifact downloads, step logs) goes to
`$KFP_CT_HOME/runs/<run-id>/run.log`, never to the terminal; a failing step is named with its
one-line cause and the log's path, without a traceback.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import run_cli

pytestmark = pytest.mark.slow
STEPS = ("validate", "train", "evaluate", "compare", "report", "register", "deploy", "notify")
STEP_LINE = re.compile(r"^\s+✓ (?P<name>[\w-]+)\s+(?P<seconds>\d+\.\d) s\s+succeeded$")


def test_default_run_prints_one_line_per_step_and_a_short_summary(default_run):
    proc = default_run.proc
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = proc.stdout.splitlines() + proc.stderr.splitlines()
    assert len(lines) <= 40, "\n".join(lines)
    timed = {m["name"]: float(m["seconds"]) for m in map(STEP_LINE.match, proc.stdout.splitlines()) if m}
    assert set(timed) == set(STEPS), proc.stdout
    assert all(seconds >= 0 for seconds in timed.values())
    shown = proc.stdout + proc.stderr
    for noise in ("Traceback", "KFP Executor", "Downloading artifacts", "executor_input", "RuntimeWarning"):
        assert noise not in shown
    assert "decision   first-model" in proc.stdout


def test_the_full_log_is_at_the_printed_path(default_run):
    proc = default_run.proc
    [log_line] = [line for line in proc.stdout.splitlines() if line.startswith("log ")]
    log = Path(log_line.split(None, 1)[1])
    assert log.is_file() and log.parent.parent == default_run.home / "runs"
    text = log.read_text()
    assert len(text.splitlines()) > 200  # everything the runner printed is here
    for step in STEPS:
        assert f"Executing task '{step}'" in re.sub(r"\x1b\[[0-9;]*m", "", text)
    assert "KFP Executor" in text and (log.parent / "run.json").is_file()


def test_a_failing_step_names_itself_its_cause_and_the_log(default_run, tmp_path):
    bad = tmp_path / "garbage.csv"
    bad.write_bytes(bytes(range(256)) * 8)
    proc = run_cli(default_run.env, "run", "--data", str(bad), timeout=300)
    lines = proc.stdout.splitlines() + proc.stderr.splitlines()
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr and len(lines) <= 15, "\n".join(lines)
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("kfp-ct: error: step 'validate' failed:") and "garbage.csv" in last
    assert any(re.match(r"^\s+✗ validate\s+\d+\.\d s\s+failed$", line) for line in proc.stdout.splitlines())
    [log_line] = [line for line in proc.stdout.splitlines() if line.strip().startswith("log ")]
    log = Path(log_line.split()[-1])
    assert log.is_file() and "Traceback" in log.read_text()  # the whole story is in the log only
