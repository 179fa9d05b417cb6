"""Deploy target `local` hot-swaps versions in one long-lived server, under a loopback load.

One server for the module (its own KFP_CT_HOME and port). Versions are MLflow model directories
saved here; the deploy requests are what the deploy step sends, minus the registry.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from kfp_ct.deploy.base import DeployRequest, SmokeTest
from kfp_ct.deploy.targets.local import LocalTarget, choose_ports, read_state, start_server
from kfp_ct.errors import DeployError
from kfp_ct.serving.client import infer_v2
from kfp_ct.serving.protocol import VERSION_HEADER, frame_to_v2_request
from tests.conftest import free_port
from tests.unit.serving.test_serving import save_model

NAME = "churn"


class Load:
    """A bounded loopback load: `threads` keep-alive clients posting single rows until stopped."""

    def __init__(
        self, url: str, bodies: list[bytes], threads: int = 3, cap: int = 20_000, cap_s: float = 120
    ):
        self.url, self.bodies, self.cap, self.deadline = url, bodies, cap, time.monotonic() + cap_s
        self.codes: Counter = Counter()
        self.versions: Counter = Counter()
        self.answers: list[tuple[float, str]] = []  # (when sent, version that answered)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def _run(self, seed: int) -> None:
        headers = {"content-type": "application/json"}
        with httpx.Client(timeout=10, trust_env=False) as client:
            k = seed
            while not self._stop.is_set() and time.monotonic() < self.deadline:
                with self._lock:
                    if sum(self.codes.values()) >= self.cap:
                        return
                sent = time.monotonic()
                try:
                    r = client.post(self.url, content=self.bodies[k % len(self.bodies)], headers=headers)
                    code, version = r.status_code, r.headers.get(VERSION_HEADER, "-")
                except httpx.TransportError as exc:
                    code, version = type(exc).__name__, "-"
                with self._lock:
                    self.codes[code] += 1
                    self.versions[version] += 1
                    self.answers.append((sent, version))
                k += 1

    def _wait_for(self, answers: int, timeout_s: float = 30.0) -> None:
        """Until `answers` more requests were answered (a loaded machine starves client threads)."""
        target, deadline = len(self.answers) + answers, time.monotonic() + timeout_s
        while len(self.answers) < target and time.monotonic() < deadline:
            time.sleep(0.02)

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        self._wait_for(2 * len(self._threads))  # the load is flowing before the deploy starts
        return self

    def __exit__(self, *exc) -> None:
        self._wait_for(2 * len(self._threads))  # and keeps flowing after it returns
        self._stop.set()
        for t in self._threads:
            t.join(30)

    @property
    def failed(self) -> int:
        return sum(n for code, n in self.codes.items() if code != 200)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("versions")
    out = {}
    for version, task in (("1", "binary"), ("2", "binary")):
        model_dir = root / f"v{version}"
        model, x = save_model(model_dir, task=task)
        out[version] = (model_dir, model, x)
    return out


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("KFP_CT_HOME", str(tmp_path_factory.mktemp("home")))
    mp.setenv("KFP_CT_PORT", str(free_port()))
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    try:
        yield
    finally:
        LocalTarget().stop()
        mp.undo()


def request(models, version: str, smoke: bool = True, timeout: float = 120.0) -> DeployRequest:
    model_dir, model, x = models[version]
    rows = x.head(20).reset_index(drop=True)
    check = SmokeTest(rows, model.predict(rows).tolist()) if smoke else None
    return DeployRequest(NAME, version, f"models:/{NAME}/{version}", Path(model_dir), check, timeout)


def bodies(x) -> list[bytes]:
    import json

    return [json.dumps(frame_to_v2_request(x.iloc[[i]])).encode() for i in range(50)]


@pytest.fixture(scope="module")
def first(home, models):
    result = LocalTarget().deploy(request(models, "1"))
    return result.endpoint


def test_first_deploy_serves_and_names_its_version(first, models):
    _, model, x = models["1"]
    out = infer_v2(first, NAME, x.head(5))
    assert out.model_version == "1" and out.predictions == model.predict(x.head(5)).tolist()
    r = httpx.post(f"{first}/v2/models/{NAME}/infer", json=frame_to_v2_request(x.head(1)), trust_env=False)
    assert r.headers[VERSION_HEADER] == "1" and r.json()["model_version"] == "1"
    v1 = httpx.post(f"{first}/v1/models/{NAME}:predict", json={"instances": x.head(2).values.tolist()})
    assert v1.status_code == 200 and v1.headers[VERSION_HEADER] == "1"


def test_redeploy_under_load_drops_nothing(first, models, record_swap):
    pid = read_state().pid
    with Load(f"{first}/v2/models/{NAME}/infer", bodies(models["1"][2])) as load:
        start = time.perf_counter()
        result = LocalTarget().deploy(request(models, "2"))
        seconds, returned = time.perf_counter() - start, time.monotonic()
    assert load.failed == 0, load.codes
    assert load.versions["1"] > 0 and load.versions["2"] > 0, load.versions
    after = {version for sent, version in load.answers if sent > returned}
    assert after == {"2"}, f"requests sent after the deploy returned were answered by {after}"
    assert read_state().pid == pid and result.endpoint == first  # same process, same endpoint
    assert result.detail["previous"] == "1" and result.detail["loaded"] == "1,2"
    record_swap["redeploy"] = (seconds, sum(load.codes.values()))
    assert infer_v2(first, NAME, models["2"][2].head(3)).model_version == "2"


def test_rollback_is_a_swap_back(first, models, record_swap):
    assert LocalTarget().serving_version(NAME) == "2"
    server_log = Path(read_state().log_path)
    loads_of_v1 = server_log.read_text().count(f"loaded {NAME} v1 in")
    with Load(f"{first}/v2/models/{NAME}/infer", bodies(models["1"][2])) as load:
        start = time.perf_counter()
        LocalTarget().deploy(request(models, "1", smoke=False))
        seconds = time.perf_counter() - start
    assert load.failed == 0, load.codes
    assert infer_v2(first, NAME, models["1"][2].head(3)).model_version == "1"
    # v1 was still loaded: the rollback is a route change, no model load
    assert server_log.read_text().count(f"loaded {NAME} v1 in") == loads_of_v1 == 1
    record_swap["rollback"] = (seconds, sum(load.codes.values()))
    LocalTarget().deploy(request(models, "2", smoke=False))  # back to v2 for the next tests


def test_pinned_version_routes_and_metadata(first, models):
    x = models["1"][2]
    assert infer_v2(first, NAME, x.head(2), version="1").model_version == "1"
    assert infer_v2(first, NAME, x.head(2), version="2").model_version == "2"
    missing = httpx.post(f"{first}/v2/models/{NAME}/versions/9/infer", json=frame_to_v2_request(x.head(1)))
    assert missing.status_code == 404 and "no loaded version '9'" in missing.json()["error"]
    meta = httpx.get(f"{first}/v2/models/{NAME}", trust_env=False).json()
    assert meta["versions"] == ["1", "2"] and meta["parameters"]["serving_version"] == "2"
    assert [i["name"] for i in meta["inputs"]] == list(x.columns)
    assert httpx.get(f"{first}/v2/models/{NAME}/versions/1/ready", trust_env=False).status_code == 200


def test_smoke_failure_never_takes_traffic(first, models):
    pid = read_state().pid
    bad = request(models, "1")
    bad = DeployRequest(
        NAME, "1", bad.model_uri, bad.model_dir, SmokeTest(bad.smoke.features, ["x"] * 20), 60
    )
    with pytest.raises(DeployError) as info:
        LocalTarget().deploy(bad)
    assert "smoke test" in str(info.value) and "rolled back: v2 is serving again" in str(info.value)
    assert read_state().pid == pid and LocalTarget().serving_version(NAME) == "2"
    assert infer_v2(first, NAME, models["1"][2].head(2)).model_version == "2"


def test_unloadable_version_changes_nothing(first, models, tmp_path):
    pid = read_state().pid
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in Path(models["1"][0]).iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    (broken / "model.skops").write_bytes(b"not a model")
    req = DeployRequest(NAME, "3", "models:/churn/3", broken, None, 60)
    with pytest.raises(DeployError) as info:
        LocalTarget().deploy(req)
    message = str(info.value)
    assert "v3 could not be loaded" in message and "rolled back: v2 is serving again" in message
    assert read_state().pid == pid
    meta = httpx.get(f"{first}/v2/models/{NAME}", trust_env=False).json()
    assert meta["versions"] == ["1", "2"] and meta["parameters"]["serving_version"] == "2"


def test_crashed_server_restarts_on_the_champion(first, models):
    state = read_state()
    os.kill(state.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while read_state() is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert read_state() is None
    assert LocalTarget().current_endpoint(NAME) is None  # nothing answers now
    restarted = LocalTarget().ensure_server()  # what the next deploy or `kfp-ct serve` does first
    assert restarted.pid != state.pid and restarted.endpoint == first
    assert infer_v2(first, NAME, models["2"][2].head(2)).model_version == "2"  # the routed version
    meta = httpx.get(f"{first}/v2/models/{NAME}", trust_env=False).json()
    assert meta["versions"] == ["1", "2"]  # the previous version is loaded again, for a swap back


@pytest.fixture(scope="module")
def record_swap():
    times: dict = {}
    yield times
    for what, (seconds, requests) in times.items():
        print(f"{what}: {seconds:.2f} s with {requests} requests under load")


def test_a_server_still_starting_is_adopted_once_ready(first, models):
    """A run killed right after it started the server leaves one still importing; the next adopts it."""
    LocalTarget().stop()
    proc, started = start_server(*choose_ports(None))  # recorded at once, not yet listening
    adopted = LocalTarget().ensure_server()
    assert adopted.pid == started.pid == proc.pid  # no second server
    assert httpx.get(f"{adopted.endpoint}/v2/health/ready", trust_env=False).status_code == 200
