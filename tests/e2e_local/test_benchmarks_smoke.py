"""CI check of the benchmark code at its tiny size (not a timed test: no figure is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.pipeline_bench import step_times
from benchmarks.report import render

ROOT = Path(__file__).resolve().parents[2]


def test_step_times_parse_kfp_local_log() -> None:
    log = (
        "23:08:02.391 - INFO - Executing task \x1b[96m'validate'\x1b[0m\n"
        "noise\n"
        "23:08:08.363 - INFO - Task \x1b[96m'validate'\x1b[0m finished with status SUCCESS\n"
    )
    assert step_times(log) == {"validate": pytest.approx(5.972)}


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_tiny_benchmark_writes_results(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--size", "tiny", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=230,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert {"pipeline", "drift", "serving", "training", "machine"} <= set(results)
    assert results["serving"]["fast_path_identical"] is True
    text = (tmp_path / "RESULTS.md").read_text()
    for heading in ("## 1. Pipeline", "## 2. Drift", "## 3. Serving", "## 4. Training"):
        assert heading in text
    assert render(results) == text
