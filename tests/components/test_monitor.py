"""Component `monitor` alone through kfp.local: with no captured traffic it says so, decision ok."""

from __future__ import annotations

import json

import pytest

from kfp_ct.components import monitor

from .helpers import run_alone

pytestmark = pytest.mark.slow


def test_no_traffic_is_ok_and_says_so(home):
    out = run_alone(
        monitor,
        home / "root",
        {},
        model_name="comp-monitor",
        capture_uri=str(home / "capture"),
        since="2026-01-01T00:00:00Z",
        label="label",
        min_labels=200,
        drift_config="{}",
        cooldown_hours=0.0,
        max_error_rate=0.05,
        primary_metric="auto",
        test_size=0.2,
        seed=42,
        pipeline_run_id="p",
    )
    assert out.parameters["Output"] == "ok"
    summary = json.loads(out.parameters["summary"])
    assert summary["rows"] == 0 and "no new traffic" in summary["reasons"][0]
    assert summary["window"]["since"].startswith("2026-01-01")
    assert "No new traffic" in out.artifacts["report"].path.read_text()
