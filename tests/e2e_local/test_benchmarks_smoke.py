"""CI check of the benchmark code at its tiny size (not a timed test: no figure is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.pipeline_bench import step_times
from benchmarks.report import CONVERTERS_HEADING, _converters, _pipeline, render

ROOT = Path(__file__).resolve().parents[2]


def test_step_times_parse_kfp_local_log() -> None:
    log = (
        "23:08:02.391 - INFO - Executing task \x1b[96m'validate'\x1b[0m\n"
        "noise\n"
        "23:08:08.363 - INFO - Task \x1b[96m'validate'\x1b[0m finished with status SUCCESS\n"
    )
    assert step_times(log) == {"validate": pytest.approx(5.972)}


def _stat(value: float) -> dict[str, float]:
    return {"median": value, "min": value, "max": value, "n": 1}


def test_pipeline_section_shows_before_and_after() -> None:
    def version(floor: float, kfp: float) -> dict:
        return {
            "floor": {"wall_s": _stat(floor), "steps_s": {"train": _stat(1.0)}},
            "kfp": {"wall_s": _stat(kfp), "steps_s": {"train": _stat(2.0)}},
            "ratio": _stat(kfp / floor),
        }

    section = _pipeline(
        {"rows": 5000, "repeats": 1, "deploy": "local", "loadavg_after": [1.0, 1.0, 1.0], **version(10, 14)}
        | {"baseline": {**version(20, 50), "revision": "abc123"}}
    )
    text = "\n".join(section)
    assert "before floor s | before `kfp-ct run` s | after floor s | after `kfp-ct run` s" in text
    assert "| ratio `kfp-ct run` / floor (per repeat) | - | 2.50 [2.50-2.50] | - | 1.40 [1.40-1.40] |" in text
    assert "**MET**" in text and "before: 2.50x" in text


def test_converters_section_lists_coverage() -> None:
    covered = {
        "covered": True, "note": "", "single_row_ms": {**_stat(0.1), "p50": 0.1}, "batch_ms": _stat(1.0),
        "labels_equal": 1.0, "max_proba_diff": 0.0, "bit_identical": True,
    }  # fmt: skip
    section = _converters(
        {
            "rows": 600,
            "repeats": 20,
            "versions": {"skl2onnx": None},
            "loadavg_after": [1.0, 1.0, 1.0],
            "cases": [
                {
                    "estimator": "dummy",
                    "task": "binary",
                    "pipeline": covered,
                    "fastpath": covered,
                    "onnx": {"covered": False, "error": "not installed: skl2onnx"},
                }
            ],
        }
    )
    assert section[0] == CONVERTERS_HEADING
    assert "| dummy | binary | onnx | - | - | - | - | - | not covered: not installed: skl2onnx |" in section
    assert "| dummy | binary | fastpath | 0.100 | 1.00 | 100.0% | 0 | yes |  |" in section


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
    assert {"pipeline", "drift", "serving", "training", "converters", "machine"} <= set(results)
    assert results["serving"]["fast_path_identical"] is True
    text = (tmp_path / "RESULTS.md").read_text()
    for heading in ("## 1. Pipeline", "## 2. Drift", "## 3. Serving", "## 4. Training", CONVERTERS_HEADING):
        assert heading in text
    assert render(results) == text


def test_capture_section_and_time_budget_judge_the_measured_figures() -> None:
    from benchmarks.report import _capture, _times

    capture = {
        "capture_latency": {"p50_off_ms": 3.0, "p50_on_ms": 3.5, "delta_ms": 0.5, "requests_per_mode": 10,
                            "throughput_drop": 0.01, "paired_drops": [0.0, 0.02],
                            "server_cpu_ms_per_request_off": 3.0, "server_cpu_ms_per_request_on": 3.1},
        "monitor": {"rows": 1_000_000, "features": 20, "total_s": 4.0, "read_s": 1.0, "peak_rss_mib": 900},
    }  # fmt: skip
    text = "\n".join(_capture(capture, None))
    assert "**NOT MET**: served single-row p50 with capture on <= off + 0.2 ms" in text
    assert "**MET**: throughput drop under 8 connections <= 5%: median of 2 paired rounds 1.0%" in text
    assert "**MET**: monitor on 1,000,000 captured rows" in text
    lines = _times({"elapsed_s": {"pipeline": 100.0}, "calibration": {}, "total_s": 1000.0, "budget_s": 900})
    assert "| pipeline | 100 |" in lines and not any("calibration" in line for line in lines)
    assert "- **NOT MET**: the full `make bench` <= 15 min: 16.7 min." in lines
