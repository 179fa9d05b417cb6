"""The Evidently HTML report stays small (sampled) and is valid HTML; MLflow logging works."""

import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from kfp_ct.drift import detect_drift, render_evidently_html
from kfp_ct.errors import DataError


def frame(seed, n, shift=0.0):
    rng = np.random.default_rng(seed)
    data = {f"x{i}": rng.normal(shift, 1, n) for i in range(8)}
    data |= {f"c{i}": rng.choice(list("abcd"), n) for i in range(4)}
    return pd.DataFrame(data)


class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)


def test_report_for_100k_rows_is_under_5mb_and_parses(tmp_path):
    out = render_evidently_html(frame(0, 100_000), frame(1, 100_000, 0.5), tmp_path / "d.html")
    size = out.stat().st_size
    assert 100_000 < size < 5_000_000
    text = out.read_text(encoding="utf-8")
    parser = Tags()
    parser.feed(text)
    assert {"html", "head", "body", "script"} <= parser.tags
    assert "x7" in text and "c3" in text
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium:  # optional: a real browser renders it headless
        shot = tmp_path / "shot.png"
        subprocess.run(
            [chromium, "--headless", "--no-sandbox", f"--screenshot={shot}", out.as_uri()],
            check=True,
            timeout=60,
            capture_output=True,
        )
        assert shot.stat().st_size > 0


def test_size_cap_drops_columns_then_fails_clearly(tmp_path):
    with pytest.raises(DataError, match="over the 1000-byte cap"):
        render_evidently_html(
            frame(0, 200), frame(1, 200), tmp_path / "d.html", columns=["x0", "c0"], max_bytes=1000
        )


def test_log_drift_to_mlflow(tmp_path):
    mlflow = pytest.importorskip("mlflow")
    from kfp_ct.lineage import DECISION
    from kfp_ct.tracking.history import log_drift_to_mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    exp = client.create_experiment("drift", artifact_location=(tmp_path / "art").as_uri())
    run = client.create_run(exp)
    report = detect_drift(frame(0, 2000), frame(1, 2000, 0.8))
    html = tmp_path / "summary.html"
    html.write_text(report.to_html())
    log_drift_to_mlflow(report, client, run.info.run_id, html_path=html)
    logged = client.get_run(run.info.run_id).data
    assert logged.tags[DECISION] == report.decision
    assert logged.metrics["drift_share"] == pytest.approx(report.share_drifted)
    names = {a.path for a in client.list_artifacts(run.info.run_id, "drift")}
    assert names == {"drift/drift_report.json", "drift/summary.html"}
