"""The example notebook executes top to bottom; with no cluster reachable it runs locally."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.slow
NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "submit_and_schedule.ipynb"


def test_notebook_runs_locally_without_a_cluster(tmp_path, monkeypatch):
    monkeypatch.setenv("KFP_CT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("KFP_HOST", "http://127.0.0.1:9")  # nothing listens on the discard port
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    text = "\n".join(
        out.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    )
    assert "not reachable" in text
    assert "continuous training decision: first-model" in text
    assert "retraining decision: skip" in text
    assert "cron '0 0 2 * * *'" in text
