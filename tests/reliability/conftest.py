"""Fixtures of the reliability suite: an outcome recorder, a served model, a real MLflow server.

Every test that tries a bad input or injects a fault records what it tried, what it observed and
what was preserved through the `record` fixture; `hack/reliability_table.py` renders those records
(`build/reliability/outcomes.jsonl`, or `$KFP_CT_RELIABILITY_LOG`) as `docs/reliability.md`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from kfp_ct.data.synth import SynthSpec, make_dataset
from kfp_ct.deploy.targets.local import stop_server
from kfp_ct.serving.client import wait_ready
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
LOG = Path(os.environ.get("KFP_CT_RELIABILITY_LOG", ROOT / "build" / "reliability" / "outcomes.jsonl"))
_pending: dict[str, list[dict]] = {}
_TMP = re.compile(r"/tmp/pytest-of-[^/]+/pytest-\d+/[^/\s]+/")


@pytest.fixture(scope="session", autouse=True)
def _fresh_log() -> None:
    """A fresh outcome log per test session that runs this directory."""
    LOG.parent.mkdir(parents=True, exist_ok=True)
    LOG.write_text("")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when != "call":
        return
    if hasattr(report, "wasxfail"):
        status = "known gap (xfail)" if report.skipped else "gap fixed? (xpass)"
    else:
        status = "pass" if report.passed else ("fail" if report.failed else "skip")
    rows = _pending.pop(item.nodeid, [])
    if not rows and hasattr(report, "wasxfail"):  # a known gap fails before it can record
        case = item.callspec.id if hasattr(item, "callspec") else item.name
        rows = [
            {
                "area": "known gap",
                "case": case,
                "tried": item.name,
                "outcome": report.wasxfail,
                "preserved": "-",
            }
        ]
    with LOG.open("a") as fh:
        for row in rows:
            fh.write(json.dumps({**row, "test": item.nodeid, "status": status}) + "\n")


@pytest.fixture
def record(request) -> Callable[..., None]:
    """record(area, case, tried, outcome, preserved): one row of the reliability table."""
    rows = _pending.setdefault(request.node.nodeid, [])

    def add(area: str, case: str, tried: str, outcome: str, preserved: str) -> None:
        text = _TMP.sub("<tmp>/", " ".join(str(outcome).split()))
        rows.append(
            {
                "area": area,
                "case": case,
                "tried": _TMP.sub("<tmp>/", tried),
                "outcome": text[:240],
                "preserved": preserved,
            }
        )

    return add


def one_line(text: str) -> bool:
    """A message is one line with no traceback."""
    return "\n" not in text.strip() and "Traceback" not in text


# ---------------------------------------------------------------- a model and a server
def save_model(path: Path, rows: int = 600, seed: int = 0):
    """Train a small pipeline on synthetic data and save it as an MLflow model (skops)."""
    import mlflow.sklearn
    from mlflow.models import infer_signature

    from kfp_ct.core.estimators import SKOPS_TRUSTED_TYPES
    from kfp_ct.core.schema import infer_schema
    from kfp_ct.core.train import train_model

    frame = make_dataset(SynthSpec(rows=rows, seed=seed))
    schema = infer_schema(frame, "label", "binary")
    result = train_model(frame, schema, "hist_gradient_boosting", {"max_iter": 20}, seed=seed)
    x = frame[result.features]
    unset = "MLFLOW_TRACKING_URI" not in os.environ
    if unset:  # MLflow 3 would otherwise create ./mlflow.db in the working directory
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{Path(path).parent}/save-model.db"
    try:
        mlflow.sklearn.save_model(
            result.model, str(path), signature=infer_signature(x, result.model.predict(x)),
            serialization_format="skops", skops_trusted_types=SKOPS_TRUSTED_TYPES,
        )  # fmt: skip
    finally:
        if unset:
            del os.environ["MLFLOW_TRACKING_URI"]
    return result.model, x


@pytest.fixture(scope="session")
def served(tmp_path_factory) -> Iterator[tuple[str, object, object, subprocess.Popen]]:
    """(base URL, offline model, feature rows, process) of a real KServe server on loopback."""
    model_dir = tmp_path_factory.mktemp("served") / "model"
    model, x = save_model(model_dir)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kfp_ct.serving", "--model_name=churn", f"--model_dir={model_dir}",
         f"--http_port={port}", "--enable_grpc=false", "--enable_latency_logging=false"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, cwd=model_dir.parent,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, "churn", 90, process=proc)
        yield url, model, x, proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)


# ---------------------------------------------------------------- a real MLflow server
@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory) -> Iterator[str]:
    """Base URL of a real `mlflow server` (sqlite backend, proxied artifacts) on loopback."""
    work = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    cmd = [
        str(Path(sys.executable).parent / "mlflow"), "server", "--host=127.0.0.1", f"--port={port}",
        "--workers=2", f"--backend-store-uri=sqlite:///{work}/mlflow.db",
        f"--artifacts-destination={work}/artifacts",
    ]  # fmt: skip
    log = (work / "server.log").open("w")
    proc = subprocess.Popen(cmd, cwd=work, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (work / "server.log").read_text()
            time.sleep(0.3)
        yield url
    finally:
        stop_server(proc.pid, timeout_s=15)
        log.close()


@pytest.fixture
def fast_mlflow_http(monkeypatch) -> None:
    """Leave retrying to kfp_ct.tracking.retry: MLflow's own HTTP retries would take minutes."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
