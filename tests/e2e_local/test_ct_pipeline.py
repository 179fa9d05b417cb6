"""Continuous training end to end through kfp.local, MLflow (sqlite) and a local KServe server.

Three runs on the same data: a first model, a worse challenger that is rejected (champion and
live endpoint unchanged), a better one that is promoted. Then bad inputs that fail at validate
and leave the registry and endpoint untouched.
"""

import pytest

from kfp_ct.data.io import write_table
from kfp_ct.data.synth import SynthSpec, make_dataset

from .helpers import FAST, features, kfp_ct, registry_state, served_version

pytestmark = pytest.mark.slow
MODEL = "kfp-ct-model"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    from ..conftest import free_port

    home = tmp_path_factory.mktemp("ct-home")
    return {"KFP_CT_HOME": str(home), "KFP_CT_PORT": str(free_port()), "MLFLOW_TRACKING_URI": ""}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_table(make_dataset(SynthSpec(rows=3000, seed=11)), tmp_path_factory.mktemp("d") / "d.csv")


@pytest.fixture(scope="module")
def runs(env, data, monkeypatch_module):
    for key, value in env.items():
        monkeypatch_module.setenv(key, value)
    out = {}
    out["first"] = kfp_ct(
        "run", "--data", str(data), "--json", *FAST, "--param", "estimator=logistic_regression"
    )
    out["after_first"] = registry_state(MODEL)
    out["worse"] = kfp_ct("run", "--data", str(data), "--json", *FAST, "--param", "estimator=dummy")
    out["after_worse"] = registry_state(MODEL)
    out["better"] = kfp_ct("run", "--data", str(data), "--json", *FAST)
    out["after_better"] = registry_state(MODEL)
    yield out
    kfp_ct("stop")


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_first_run_registers_and_serves(runs, data):
    first = runs["first"]
    assert first.code == 0, first.stderr[-2000:]
    s = first.summary
    assert s["pipeline"] == "continuous-training" and s["decision"] == "first-model"
    assert s["model_version"] == "1" and s["champion_version"] == "1"
    assert set(s["metrics"]) >= {"accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"}
    aliases, versions = runs["after_first"]
    assert aliases == {"champion": "1"} and versions == ["1"]
    assert s["endpoint"].startswith("http://127.0.0.1:")


def test_worse_challenger_is_rejected_and_nothing_moves(runs, data):
    worse = runs["worse"]
    assert worse.code == 0, worse.stderr[-2000:]
    assert worse.summary["decision"] == "reject"
    assert worse.summary["model_version"] is None
    assert runs["after_worse"] == runs["after_first"]
    assert worse.summary["endpoint"] == runs["first"].summary["endpoint"]


def test_better_challenger_is_promoted_and_served(runs, data):
    better = runs["better"]
    assert better.code == 0, better.stderr[-2000:]
    s = better.summary
    assert s["decision"] == "promote", better.stderr[-3000:]
    assert s["model_version"] == "2" and s["champion_version"] == "2"
    aliases, versions = runs["after_better"]
    assert aliases == {"champion": "2", "previous-champion": "1"} and versions == ["1", "2"]
    assert s["metrics"]["roc_auc"] > runs["first"].summary["metrics"]["roc_auc"]
    assert served_version(s["endpoint"], MODEL, features(data)) == "2"


def test_lineage_tags_on_the_version(runs, env):
    import mlflow

    from kfp_ct import lineage, settings

    client = mlflow.MlflowClient(tracking_uri=settings.tracking_uri())
    tags = client.get_model_version(MODEL, "2").tags
    assert tags[lineage.PIPELINE_RUN_ID] == runs["better"].summary["run_id"]
    assert len(tags[lineage.DATA_HASH]) == 64 and len(tags[lineage.MODEL_SHA256]) == 64
    assert tags[lineage.DECISION] == "promote"
    assert float(tags[lineage.METRIC_TAG_PREFIX + "roc_auc"]) > 0.5
    assert lineage.DEPLOYED_AT in tags


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("nolabel.csv", "a,b\n1,2\n3,4\n", "[label] label_missing"),
        ("types.csv", None, "[age] dtype"),
        ("empty.csv", "", "file is empty"),
        ("unknown.csv", "MISSING", "file not found"),
    ],
)
def test_bad_input_fails_at_validate_and_changes_nothing(runs, tmp_path, data, name, content, message):
    before = registry_state(MODEL)
    path = tmp_path / name
    if content == "MISSING":
        pass
    elif content is None:
        frame = make_dataset(SynthSpec(rows=500, seed=2))
        frame["age"] = frame["age"].astype(object)
        frame.loc[3, "age"] = "forty"
        write_table(frame, path)
    else:
        path.write_text(content)
    result = kfp_ct("run", "--data", str(path), "--json", *FAST)
    assert result.code == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("kfp-ct: error: step 'validate' failed:"), last
    assert message in last and name in last
    assert registry_state(MODEL) == before
    assert served_version(runs["better"].summary["endpoint"], MODEL, features(data)) == "2"
