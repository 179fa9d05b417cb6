"""CI check of benchmarks/calibration.py at its small size: it runs and RESULTS.md renders it."""

from benchmarks import calibration
from benchmarks.report import CALIBRATION_HEADING, _calibration, splice


def test_calibration_runs_at_ci_size_and_renders():
    result = calibration.bench(**calibration.SIZES["ci"])
    counts = result["drift"]["counts"]
    assert set(counts) == {"full", "data", "bonferroni", "evidently"}
    for method in ("full", "data", "bonferroni"):
        assert (
            counts[method]["500"]["0.0"][1] == 2 and counts[method]["500"]["0.5"][0] == 2
        )  # drift 0.5 found
    assert result["gate"]["binary_power"]["200"][1] == 5
    section = _calibration({**result, "size": "ci", "machine": {"date": "today"}, "loadavg_after": [0.0]})
    text = "\n".join(section)
    assert section[0] == CALIBRATION_HEADING and "| kfp-ct, full decision | 500 |" in text
    assert "full-decision false alarms <= 5%" in text and "gate false promotions" in text
    merged = splice("# kfp-ct benchmarks\n\n## 4. Training\n\nold\n\nTotal benchmark time: 1 s.\n", section)
    assert (
        merged.index("## 4. Training") < merged.index(CALIBRATION_HEADING) < merged.index("Total benchmark")
    )
    assert splice(merged, section) == merged  # splicing again replaces, never duplicates
