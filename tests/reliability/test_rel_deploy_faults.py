"""Deploy faults injected one by one against a real local KServe server and a real MLflow store.

Before each fault, v1 is champion and serving. After it: the deploy raised with the cause, v1
still serves on the same endpoint, and the aliases are exactly as before.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import mlflow
import mlflow.sklearn
import pytest

from kfp_ct.deploy.base import SmokeTest
from kfp_ct.deploy.targets.local import LocalTarget, read_state
from kfp_ct.errors import DeployError, KfpCtError, ServiceUnavailable
from kfp_ct.serving import client
from kfp_ct.serving.client import infer_v2
from kfp_ct.steps import deploy as deploy_step
from kfp_ct.steps.deploy import DeployOutput, DeployParams, DeployPaths
from kfp_ct.tracking import registry, runs

from .conftest import one_line, save_model

NAME = "rel-model"
GOOD_SEED = 2  # the seed of the healthy v2 (`good`)


def log_and_register(
    tmp: Path, seed: int, corrupt_before_register: bool = False
) -> tuple[str, object, object]:
    """Log a trained model to MLflow and register it (as the register step does)."""
    model, x = save_model(tmp / f"local-{seed}", seed=seed)
    runs.connect()
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(model, name="model", serialization_format="skops",
                                        skops_trusted_types=_trusted(), input_example=x.head(2))  # fmt: skip
    if corrupt_before_register:  # an artifact that was broken before it was ever registered
        (store_dir(info.model_uri) / "model.skops").write_bytes(b"not a model")
    model_dir = Path(mlflow.artifacts.download_artifacts(info.model_uri, dst_path=str(tmp / f"dl-{seed}")))
    ref = registry.register(NAME, info.model_uri, run.info.run_id, {}, model_dir)
    return ref.version, model, x


def deploy(tmp: Path, version: str, seed: int, expected: str | None, timeout_s: float = 60.0) -> DeployOutput:
    """The deploy step as its component runs it: serve `version` on the local target.

    The smoke test compares the server with the local model files trained with `seed` on the
    held-out rows; `expected` is the champion compare judged against.
    """
    record = tmp / f"decision-{version}.json"
    record.write_text(json.dumps({"champion_version": expected or ""}))
    params = DeployParams(
        model_name=NAME, model_version=version, target="local", readiness_timeout_s=timeout_s
    )
    paths = DeployPaths(
        model=tmp / f"local-{seed}", test_set=tmp / "held-out.parquet", decision_record=record
    )
    return deploy_step.run(params, paths)


def _trusted():
    from kfp_ct.core.estimators import SKOPS_TRUSTED_TYPES

    return SKOPS_TRUSTED_TYPES


def store_dir(model_uri: str) -> Path:
    """The artifact directory of a logged model in the local store."""
    client = registry.mlflow_client()
    logged = client.get_logged_model(model_uri.removeprefix("models:/"))
    return Path(logged.artifact_location.removeprefix("file://"))


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """v1 champion and serving in a fresh KFP_CT_HOME; yields (tmp, model, rows)."""
    mp = pytest.MonkeyPatch()
    tmp = tmp_path_factory.mktemp("deploy-faults")
    from ..conftest import free_port

    mp.setenv("KFP_CT_HOME", str(tmp / "home"))
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    mp.setenv("KFP_CT_PORT", str(free_port()))
    version, model, x = log_and_register(tmp, seed=1)
    x.to_parquet(tmp / "held-out.parquet", index=False)
    out = deploy(tmp, version, 1, None)
    assert out.champion_version == "1"
    try:
        yield tmp, model, x
    finally:
        LocalTarget().stop()
        mp.undo()


@pytest.fixture(scope="module")
def good(live) -> str:
    """A healthy v2, registered once and reused by the faults that need a deployable version."""
    tmp, _, _ = live
    return log_and_register(tmp, seed=GOOD_SEED)[0]


def snapshot(x) -> dict:
    state = read_state()
    served = infer_v2(state.endpoint, NAME, x.head(3)) if state else None
    return {
        "aliases": registry.aliases(NAME),
        "serving": None if served is None else served.model_version,
        "endpoint": None if state is None else state.endpoint,
    }


def preserved(before: dict, after: dict) -> str:
    assert after == before, f"{before} -> {after}"
    return f"v{after['serving']} still serving at the same endpoint; aliases unchanged {after['aliases']}"


def test_smoke_test_fails(live, good, record, monkeypatch):
    tmp, x = live[0], live[2]
    before = snapshot(x)
    version = good
    wrong = SmokeTest(x.head(20), ["no-such-class"] * 20)
    monkeypatch.setattr(deploy_step, "smoke_test", lambda *args, **kwargs: wrong)
    with pytest.raises(DeployError) as info:
        deploy(tmp, version, GOOD_SEED, before["aliases"]["champion"])
    message = str(info.value)
    assert "smoke test" in message and "rolled back: v1 is serving again" in message and one_line(message)
    after = snapshot(x)
    record(
        "deploy fault",
        "smoke test fails",
        f"v{version}: predictions disagree",
        message,
        preserved(before, after),
    )


def test_readiness_timeout(live, good, record):
    tmp, x = live[0], live[2]
    before = snapshot(x)
    version = good
    # the live server loads a new version in well under a second: a timeout it cannot meet
    with pytest.raises(DeployError) as info:
        deploy(tmp, version, GOOD_SEED, before["aliases"]["champion"], timeout_s=0.001)
    message = str(info.value)
    assert "not ready after" in message and "rolled back: v1" in message
    after = snapshot(x)
    record(
        "deploy fault", "readiness timeout", f"v{version}, timeout 1 ms", message, preserved(before, after)
    )


def test_version_will_not_load(live, record):
    """Was "server will not start": a new version now loads into the live server, beside v1."""
    tmp, x = live[0], live[2]
    version, _, _ = log_and_register(tmp, seed=3, corrupt_before_register=True)
    before = snapshot(x)
    pid = read_state().pid
    with pytest.raises(DeployError) as info:
        deploy(tmp, version, 3, before["aliases"]["champion"])
    message = str(info.value)
    assert f"v{version} could not be loaded" in message and "rolled back: v1" in message
    assert read_state().pid == pid  # the live server never stopped
    after = snapshot(x)
    record(
        "deploy fault",
        "new version will not load",
        f"v{version}: unloadable model file",
        message.split(" [server log")[0],
        preserved(before, after),
    )


def test_server_dies_while_loading(live, good, record, monkeypatch):
    tmp, x = live[0], live[2]
    before = snapshot(x)
    pid = read_state().pid
    load = client.load_model

    def crash_first(*args, **kwargs):  # the server dies (OOM killer, segfault) as the load starts
        monkeypatch.setattr(client, "load_model", load)
        os.kill(pid, signal.SIGKILL)
        return load(*args, **kwargs)

    monkeypatch.setattr(client, "load_model", crash_first)
    with pytest.raises(DeployError) as info:
        deploy(tmp, good, GOOD_SEED, before["aliases"]["champion"])
    message = str(info.value)
    assert "server exited" in message and "restarted; rolled back: v1 is serving again" in message
    assert read_state().pid != pid
    after = snapshot(x)
    record(
        "deploy fault",
        "server killed while loading a new version",
        f"v{good}: SIGKILL of the model server",
        message.split(" [server log")[0],
        preserved(before, after),
    )


def test_dead_server_is_restarted_on_the_champion(live, record):
    x = live[2]
    before = snapshot(x)
    pid = read_state().pid
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while read_state() is not None and time.monotonic() < deadline:  # SIGKILL takes a moment
        time.sleep(0.05)
    state = LocalTarget().ensure_server()  # what the next deploy and `kfp-ct serve` do first
    assert state.pid != pid
    after = snapshot(x)
    record(
        "crash",
        "local model server killed between deploys",
        "SIGKILL of the server, then the next deploy",
        f"restarted (pid {pid} -> {state.pid}) on the routed version",
        preserved(before, after),
    )


def test_corrupted_artifact_is_caught_before_deploy(live, record):
    tmp, x = live[0], live[2]
    version, _, _ = log_and_register(tmp, seed=4)
    before = snapshot(x)
    pid = read_state().pid
    source = registry.get_version(NAME, version).tags[registry.MODEL_URI_TAG]
    target = store_dir(source) / "model.skops"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte flipped in the store
    target.write_bytes(bytes(data))
    with pytest.raises(DeployError) as info:
        deploy(tmp, version, 4, before["aliases"]["champion"])
    message = str(info.value)
    assert "do not match the hash recorded at registration" in message
    assert read_state().pid == pid  # the live server was never touched
    after = snapshot(x)
    record(
        "deploy fault",
        "corrupted model artifact",
        f"v{version}: one byte changed in the store",
        message,
        preserved(before, after),
    )


def test_alias_move_fails_after_serving(live, good, record, monkeypatch):
    tmp, x = live[0], live[2]
    before = snapshot(x)
    version = good

    def down(*args, **kwargs):
        raise ServiceUnavailable("MLflow registry failed 4 times, last error: ConnectionError")

    monkeypatch.setattr(registry, "promote", down)
    with pytest.raises(DeployError) as info:
        deploy(tmp, version, GOOD_SEED, before["aliases"]["champion"])
    message = str(info.value)
    assert "moving the champion failed" in message and "champion v1 is serving again" in message
    after = snapshot(x)
    record(
        "deploy fault",
        "MLflow fails after the new server is up",
        f"v{version}: promote raises",
        message,
        preserved(before, after),
    )


def test_champion_moved_before_deploy(live, good, record):
    tmp, x = live[0], live[2]
    before = snapshot(x)
    pid = read_state().pid
    version = good
    with pytest.raises(KfpCtError) as info:  # this run compared against v0, another run won since
        deploy(tmp, version, GOOD_SEED, "0")
    message = str(info.value)
    assert isinstance(info.value, registry.ChampionMoved) and "nothing deployed" in message
    assert read_state().pid == pid
    after = snapshot(x)
    record(
        "deploy fault",
        "champion moved since compare",
        f"v{version} compared against v0",
        message,
        preserved(before, after),
    )


def test_successful_deploy_still_works(live, good, record):
    tmp, x = live[0], live[2]
    before = snapshot(x)
    version = good
    pid = read_state().pid
    out = deploy(tmp, version, GOOD_SEED, before["aliases"]["champion"])
    after = snapshot(x)
    assert after["serving"] == version and after["aliases"]["champion"] == version
    assert after["aliases"]["previous-champion"] == "1" and out.previous_champion == "1"
    assert after["endpoint"] == before["endpoint"] and read_state().pid == pid  # swapped in, no restart
    record(
        "deploy fault",
        "control: no fault",
        f"v{version}",
        f"champion v1 -> v{version}",
        "v1 kept as previous-champion",
    )
