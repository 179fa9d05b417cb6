"""MLflow unreachable or failing mid-run, and racing promotions, against a real `mlflow server`.

Faults are injected by a small HTTP proxy between the client and the server that fails chosen
requests (503, or forwards them and loses the answer). Racers are separate processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import mlflow
import mlflow.sklearn
import pytest

from kfp_ct import lineage
from kfp_ct.errors import ServiceUnavailable
from kfp_ct.tracking import registry, runs
from tests.conftest import free_port

from .conftest import one_line, save_model


class FaultProxy:
    """Forward to MLflow; `rules` [(method, path part, body part, action, times)] inject faults."""

    def __init__(self, upstream: str) -> None:
        self.upstream, self.rules, self.hits = upstream, [], []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                action = proxy.match(self.command, self.path, body)
                if action == "503":
                    return self._send(503, b"injected fault", "text/plain")
                with httpx.Client(timeout=30) as client:
                    up = client.request(
                        self.command,
                        proxy.upstream + self.path,
                        content=body,
                        headers={k: v for k, v in self.headers.items() if k.lower() != "host"},
                    )
                if action == "lose-answer":
                    return self._send(503, b"answer lost", "text/plain")
                self._send(up.status_code, up.content, up.headers.get("content-type", "application/json"))

            def _send(self, code: int, payload: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def match(self, method: str, path: str, body: bytes) -> str | None:
        for rule in self.rules:
            m, part, body_part, action, times = rule
            if method == m and part in path and body_part.encode() in body and times != 0:
                rule[4] = times - 1
                self.hits.append((method, path, action))
                return action
        return None


@pytest.fixture
def proxied(mlflow_server, monkeypatch, fast_mlflow_http, tmp_path):
    proxy = FaultProxy(mlflow_server)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", proxy.url)
    monkeypatch.setenv("KFP_CT_HOME", str(tmp_path / "home"))
    yield proxy
    proxy.server.shutdown()


TRAINED: dict[int, object] = {}


def logged_model(tmp_path, seed: int = 0) -> tuple[str, str, object]:
    """(model URI, run id, downloaded model dir) of a model logged through the current tracking URI."""
    if seed not in TRAINED:  # train once per seed; every call still logs a new MLflow model
        TRAINED[seed] = save_model(tmp_path / f"m{seed}", rows=300, seed=seed)[0]
    model = TRAINED[seed]
    runs.connect()
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(
            model, name="model", serialization_format="skops", skops_trusted_types=_trusted()
        )
    local = mlflow.artifacts.download_artifacts(info.model_uri, dst_path=str(tmp_path / run.info.run_id))
    return info.model_uri, run.info.run_id, Path(local)


def _trusted():
    from kfp_ct.core.estimators import SKOPS_TRUSTED_TYPES

    return SKOPS_TRUSTED_TYPES


def versions(name: str) -> list[str]:
    return sorted(v.version for v in mlflow.MlflowClient().search_model_versions(f"name = '{name}'"))


def test_unreachable_retries_with_backoff_then_fails(monkeypatch, fast_mlflow_http, tmp_path, record, caplog):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    start = time.monotonic()
    with pytest.raises(ServiceUnavailable) as info:
        registry.aliases("any-model")
    elapsed = time.monotonic() - start
    retries = [r for r in caplog.records if "retry" in r.getMessage()]
    message = str(info.value)
    assert len(retries) == 3 and elapsed >= 3.5 and one_line(message) and "MLFLOW_TRACKING_URI" in message
    record(
        "MLflow fault",
        "MLflow unreachable",
        "connection refused on every call",
        f"{len(retries)} retries in {elapsed:.1f} s (0.5, 1, 2 s backoff), then: {message}",
        "nothing written",
    )


def test_transient_503_then_success_registers_once(proxied, tmp_path, record):
    uri, run_id, model_dir = logged_model(tmp_path)
    proxied.rules = [["POST", "model-versions/create", "", "503", 2]]
    ref = registry.register("rel-flaky", uri, run_id, {}, model_dir)
    assert len(proxied.hits) == 2 and versions("rel-flaky") == [ref.version]
    record(
        "MLflow fault",
        "two 503s on create version",
        "proxy answers 503 twice",
        f"retried, registered v{ref.version}",
        "exactly one version",
    )


def test_lost_answer_does_not_duplicate(proxied, tmp_path, record):
    uri, run_id, model_dir = logged_model(tmp_path)
    proxied.rules = [["POST", "model-versions/create", "", "lose-answer", 1]]
    ref = registry.register("rel-lost", uri, run_id, {}, model_dir)
    assert proxied.hits and versions("rel-lost") == [ref.version]
    assert registry.aliases("rel-lost") == {lineage.CHALLENGER: ref.version}
    record(
        "MLflow fault",
        "create version succeeded but the answer was lost",
        "proxy forwards, answers 503",
        f"retry found v{ref.version} already registered from the same model",
        "no duplicate version",
    )


def test_alias_failure_leaves_no_half_registered_version(proxied, tmp_path, record):
    uri, run_id, model_dir = logged_model(tmp_path)
    proxied.rules = [["POST", "registered-models/alias", "", "503", -1]]
    with pytest.raises(ServiceUnavailable) as info:
        registry.register("rel-half", uri, run_id, {}, model_dir)
    proxied.rules = []
    assert versions("rel-half") == [] and registry.aliases("rel-half") == {}
    record(
        "MLflow fault",
        "MLflow fails while registering (alias call)",
        "every alias call answers 503",
        str(info.value),
        "the new version was deleted again: no half-registered version",
    )


def test_failure_mid_promotion_moves_no_alias(proxied, tmp_path, record):
    name = "rel-promote"
    for seed in (0, 1):
        uri, run_id, model_dir = logged_model(tmp_path, seed)
        ref = registry.register(name, uri, run_id, {}, model_dir)
        if seed == 0:
            registry.promote(name, ref.version, None, {})
    before = registry.aliases(name)
    proxied.rules = [["POST", "registered-models/alias", "previous-champion", "503", -1]]
    with pytest.raises(ServiceUnavailable) as info:
        registry.promote(name, ref.version, before[lineage.CHAMPION], {})
    proxied.rules = []
    after = registry.aliases(name)
    assert after == before
    record(
        "MLflow fault",
        "MLflow fails half-way through moving aliases",
        "champion set, previous-champion 503",
        str(info.value),
        f"aliases put back as they were: {after}",
    )


# ---------------------------------------------------------------- racing promotions
RACER = """
import json, sys, time
from kfp_ct.tracking import registry
from kfp_ct.steps.deploy import DeployParams, DeployPaths, run
from pathlib import Path
name, version, expected = sys.argv[1], sys.argv[2], sys.argv[3] or None
gate, entrants = Path(sys.argv[4]), int(sys.argv[5])
record = gate / f"decision-{version}.json"  # compare's record: the champion this run judged against
record.write_text(json.dumps({"champion_version": expected or ""}))
params = DeployParams(model_name=name, model_version=version, target="none", readiness_timeout_s=120.0)
unread = gate / "unread"  # target none serves nothing: no model files, no smoke rows
paths = DeployPaths(model=unread, test_set=unread, decision_record=record)
registry.aliases(name)  # imports and connection warmed up before the start line
(gate / f"ready-{version}").touch()
deadline = time.time() + 180
while len(list(gate.glob("ready-*"))) < entrants and time.time() < deadline:
    time.sleep(0.005)
start_at = time.time()
try:
    run(params, paths)
    result = "won"
except registry.ChampionMoved as exc:
    result = f"ChampionMoved: {exc}"
except Exception as exc:
    result = f"{type(exc).__name__}: {exc}"
print(json.dumps([version, result, len(list(gate.glob("ready-*")))]))
"""


def race(uri: str, tmp_path, name: str, entrants: dict[str, str | None]) -> list[tuple[str, str]]:
    """Start one process per version; all run the deploy step (target none) at the same instant."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "KFP_CT_HOME": str(tmp_path / "racers")}
    gate = tmp_path / f"gate-{len(entrants)}"  # a file barrier: all racers start together
    gate.mkdir()
    procs = [
        subprocess.Popen([sys.executable, "-c", RACER, name, v, exp or "", str(gate), str(len(entrants))],
                         env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for v, exp in entrants.items()
    ]  # fmt: skip
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
        version, result, ready = json.loads(out.strip().splitlines()[-1])
        assert ready == len(entrants), f"racer v{version} started before all racers were ready"
        results.append((version, result))
    return results


def test_racing_promotions_exactly_one_wins(mlflow_server, monkeypatch, fast_mlflow_http, tmp_path, record):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.setenv("KFP_CT_HOME", str(tmp_path / "home"))
    name = "rel-race"
    mine = []
    for seed in range(4):
        uri, run_id, model_dir = logged_model(tmp_path, seed)
        mine.append(registry.register(name, uri, run_id, {}, model_dir).version)
    first = race(mlflow_server, tmp_path, name, dict.fromkeys(mine))  # all compared against "no champion"
    winners = [v for v, r in first if r == "won"]
    assert len(winners) == 1, first
    assert all(r.startswith("ChampionMoved") for v, r in first if v != winners[0]), first
    assert registry.aliases(name)[lineage.CHAMPION] == winners[0]
    losers = [v for v in mine if v != winners[0]]
    second = race(mlflow_server, tmp_path, name, dict.fromkeys(losers, winners[0]))  # all saw the new one
    again = [v for v, r in second if r == "won"]
    final = registry.aliases(name)
    locks = mlflow.MlflowClient().search_registered_models(f"name = '{name}{registry.LOCK_SUFFIX}'")
    assert len(again) == 1 and final[lineage.CHAMPION] == again[0], second
    assert final[lineage.PREVIOUS_CHAMPION] == winners[0] and not locks
    record(
        "concurrency",
        "4 processes promote at once (all expected no champion)",
        "barrier, then deploy_version",
        f"1 won (v{winners[0]}), {len(first) - 1} got ChampionMoved",
        f"champion v{winners[0]}; lock released",
    )
    record(
        "concurrency",
        "3 losers re-decide against the new champion and race again",
        f"expected champion v{winners[0]}",
        f"1 won (v{again[0]}), {len(second) - 1} got ChampionMoved",
        f"champion v{again[0]}, previous-champion v{winners[0]}",
    )
