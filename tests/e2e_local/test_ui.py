"""`kfp-ct ui`: the MLflow UI on this home's store, on a free port, printed as a link."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import httpx

from .conftest import KFP_CT


def test_ui_answers_at_the_printed_link_and_stops_with_the_command(tmp_path):
    env = {**os.environ, "KFP_CT_HOME": str(tmp_path / "home")}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.Popen(
        [KFP_CT, "ui"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = proc.stdout.readline()  # printed once the UI answers (bounded by its --timeout)
        match = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        assert match, line + proc.stderr.read()
        url = match.group(1)
        page = httpx.get(url, timeout=30)
        assert page.status_code == 200 and "<html" in page.text.lower()
        assert httpx.get(f"{url}/health", timeout=10).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the MLflow server went with it
        try:
            httpx.get(f"{url}/health", timeout=1)
        except httpx.HTTPError:
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"the MLflow UI at {url} still answers after `kfp-ct ui` stopped")
