"""Deploy faults injected one by one against a real local KServe server and a real MLflow store.

Before each fault, v1 is champion and serving. After it: the deploy raised with the cause, v1
still serves on the same endpoint, and the aliases are exactly as before.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import mlflow.sklearn
import pytest

from kfp_ct.deploy.base import SmokeTest
from kfp_ct.deploy.targets.local import LocalTarget, read_state
from kfp_ct.errors import DeployError, KfpCtError, ServiceUnavailable
from kfp_ct.serving.client import infer_v2
from kfp_ct.steps.deploy import deploy_version, smoke_from_frame
from kfp_ct.tracking import registry, runs

from .conftest import one_line, save_model

NAME = "rel-model"


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


def _trusted():
    from kfp_ct.core.estimators import SKOPS_TRUSTED_TYPES

    return SKOPS_TRUSTED_TYPES


def store_dir(model_uri: str) -> Path:
    """The artifact directory of a logged model in the local store."""
    client = mlflow.MlflowClient()
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
    features = list(model.feature_names_in_)
    out = deploy_version(LocalTarget(), NAME, version, smoke_from_frame(model, x, features), None, 60)
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
    return log_and_register(tmp, seed=2)[0]


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


def test_smoke_test_fails(live, good, record):
    x = live[2]
    before = snapshot(x)
    version = good
    wrong = SmokeTest(x.head(20), ["no-such-class"] * 20)
    with pytest.raises(DeployError) as info:
        deploy_version(LocalTarget(), NAME, version, wrong, before["aliases"]["champion"], 60)
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
    x = live[2]
    before = snapshot(x)
    version = good
    with pytest.raises(DeployError) as info:
        deploy_version(LocalTarget(), NAME, version, None, before["aliases"]["champion"], 0.2)
    message = str(info.value)
    assert "not ready after" in message and "rolled back: v1" in message
    after = snapshot(x)
    record(
        "deploy fault", "readiness timeout", f"v{version}, timeout 0.2 s", message, preserved(before, after)
    )


def test_server_will_not_start(live, record):
    tmp, x = live[0], live[2]
    version, _, _ = log_and_register(tmp, seed=3, corrupt_before_register=True)
    before = snapshot(x)
    with pytest.raises(DeployError) as info:
        deploy_version(LocalTarget(), NAME, version, None, before["aliases"]["champion"], 60)
    message = str(info.value)
    assert "exited with code" in message and "rolled back: v1" in message
    after = snapshot(x)
    record(
        "deploy fault",
        "server will not start",
        f"v{version}: unloadable model file",
        message.split(" [server log")[0],
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
        deploy_version(LocalTarget(), NAME, version, None, before["aliases"]["champion"], 60)
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
    x = live[2]
    before = snapshot(x)
    version = good

    def down(*args, **kwargs):
        raise ServiceUnavailable("MLflow registry failed 4 times, last error: ConnectionError")

    monkeypatch.setattr(registry, "promote", down)
    with pytest.raises(DeployError) as info:
        deploy_version(LocalTarget(), NAME, version, None, before["aliases"]["champion"], 60)
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
    x = live[2]
    before = snapshot(x)
    pid = read_state().pid
    version = good
    with pytest.raises(KfpCtError) as info:  # this run compared against v0, another run won since
        deploy_version(LocalTarget(), NAME, version, None, "0", 60)
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
    x = live[2]
    before = snapshot(x)
    version = good
    new_model = mlflow.sklearn.load_model(f"models:/{NAME}/{version}")
    smoke = smoke_from_frame(new_model, x, list(new_model.feature_names_in_))
    out = deploy_version(LocalTarget(), NAME, version, smoke, before["aliases"]["champion"], 60)
    after = snapshot(x)
    assert after["serving"] == version and after["aliases"]["champion"] == version
    assert after["aliases"]["previous-champion"] == "1" and out.previous_champion == "1"
    assert after["endpoint"] == before["endpoint"]
    record(
        "deploy fault",
        "control: no fault",
        f"v{version}",
        f"champion v1 -> v{version}",
        "v1 kept as previous-champion",
    )
