"""MLflow's own clients score the raw training CSV with the champion: pyfunc and `mlflow models serve`.

The signature keeps the CSV's integer columns as integers (`long`), so MLflow's schema
enforcement accepts the file exactly as users have it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import mlflow
import pandas as pd
import pytest

from kfp_ct.deploy.targets.local import stop_server
from tests.conftest import free_port

pytestmark = pytest.mark.slow
CHAMPION = "models:/kfp-ct-model@champion"


@pytest.fixture
def tracking(default_run, monkeypatch):
    assert default_run.proc.returncode == 0, default_run.proc.stderr[-2000:]
    uri = f"sqlite:///{default_run.home / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    return uri


def raw_csv(default_run) -> pd.DataFrame:
    return pd.read_csv(default_run.home / "data" / "default.csv")


def test_the_signature_keeps_integer_columns_integers(default_run, tracking):
    inputs = {c.name: c.type.name for c in mlflow.models.get_model_info(CHAMPION).signature.inputs.inputs}
    frame = raw_csv(default_run)
    ints = [c for c in frame.columns if c != "label" and pd.api.types.is_integer_dtype(frame[c])]
    assert ints and all(inputs[c] == "long" for c in ints)


def test_pyfunc_scores_the_raw_training_csv(default_run, tracking):
    frame = raw_csv(default_run)  # as read: int64 columns, the label column too
    model = mlflow.pyfunc.load_model(CHAMPION)
    predictions = model.predict(frame)
    assert len(predictions) == len(frame)
    offline = mlflow.sklearn.load_model(CHAMPION).predict(frame.drop(columns=["label"]))
    assert list(predictions) == list(offline)
    accuracy = (pd.Series(predictions).to_numpy() == frame["label"].to_numpy()).mean()
    assert accuracy > 0.75


def test_mlflow_models_serve_scores_the_raw_csv(default_run, tracking, tmp_path):
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # mlflow's own CLI
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "models", "serve", "-m", CHAMPION,
         "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            try:
                if httpx.get(f"{url}/ping", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "mlflow models serve did not answer /ping in 180 s"
            time.sleep(1)
        body = (default_run.home / "data" / "default.csv").read_text().splitlines()[:51]
        csv_text = "\n".join(body) + "\n"
        headers = {"Content-Type": "text/csv"}
        answer = httpx.post(f"{url}/invocations", content=csv_text, headers=headers, timeout=60)
        assert answer.status_code == 200, answer.text[:2000]
        predictions = answer.json()["predictions"]
        assert len(predictions) == 50 and set(predictions) <= {0, 1}
    finally:
        stop_server(proc.pid, timeout_s=30)
        log.close()
