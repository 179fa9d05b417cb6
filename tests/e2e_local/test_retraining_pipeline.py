"""Retraining end to end through kfp.local: skip on a stable window, retrain on a drifted one,
skip the same drifted window again by de-duplication."""

import json
from pathlib import Path

import mlflow
import pytest

from kfp_ct import lineage, settings
from kfp_ct.data.io import write_table
from kfp_ct.data.synth import SynthSpec, make_dataset

from .helpers import FAST, features, kfp_ct, registry_state, served_version

pytestmark = pytest.mark.slow
MODEL = "kfp-ct-model"


@pytest.fixture(scope="module")
def flow(tmp_path_factory):
    from ..conftest import free_port

    mp = pytest.MonkeyPatch()
    home = tmp_path_factory.mktemp("rt-home")
    mp.setenv("KFP_CT_HOME", str(home))
    mp.setenv("KFP_CT_PORT", str(free_port()))
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    d = tmp_path_factory.mktemp("rt-data")
    base = write_table(make_dataset(SynthSpec(rows=3000, seed=21)), d / "base.csv")
    stable = write_table(make_dataset(SynthSpec(rows=2000, seed=22)), d / "stable.csv")
    drifted = d / "drifted.csv"
    synth = kfp_ct(
        "data",
        "synth",
        "--rows",
        "2000",
        "--seed",
        "23",
        "--drift",
        "1.0",
        "--concept-drift",
        "0.5",
        "--out",
        str(drifted),
    )
    assert synth.code == 0, synth.stderr
    out = {"base": base}
    out["ct"] = kfp_ct("run", "--data", str(base), "--json", *FAST)
    out["stable"] = kfp_ct("run", "--pipeline", "retraining", "--data", str(stable), "--json", *FAST)
    out["after_stable"] = registry_state(MODEL)
    out["drifted"] = kfp_ct("run", "--pipeline", "retraining", "--data", str(drifted), "--json", *FAST)
    out["after_drifted"] = registry_state(MODEL)
    out["again"] = kfp_ct("run", "--pipeline", "retraining", "--data", str(drifted), "--json", *FAST)
    out["after_again"] = registry_state(MODEL)
    yield out
    kfp_ct("stop")
    mp.undo()


def test_stable_window_is_skipped_and_nothing_registered(flow):
    assert flow["ct"].code == 0, flow["ct"].stderr[-2000:]
    stable = flow["stable"]
    assert stable.code == 0, stable.stderr[-2000:]
    assert stable.summary["drift"]["decision"] == "skip"
    assert stable.summary["drift"]["share"] < 0.5
    assert stable.summary["model_version"] is None
    assert flow["after_stable"] == ({"champion": "1"}, ["1"])


def test_drifted_window_retrains_and_compare_decides(flow):
    drifted = flow["drifted"]
    assert drifted.code == 0, drifted.stderr[-3000:]
    s = drifted.summary
    assert s["drift"]["decision"] == "retrain" and s["drift"]["share"] >= 0.5
    assert "age" in s["drift"]["drifted_features"]
    assert s["decision"] == "promote"  # held-out rows come from the new window only
    assert s["model_version"] == "2" and s["champion_version"] == "2"
    assert flow["after_drifted"] == ({"champion": "2", "previous-champion": "1"}, ["1", "2"])
    assert served_version(s["endpoint"], MODEL, features(flow["base"])) == "2"


def test_retrained_version_records_window_lineage(flow):
    client = mlflow.MlflowClient(tracking_uri=settings.tracking_uri())
    tags = client.get_model_version(MODEL, "2").tags
    assert len(tags[lineage.WINDOW_HASH]) == 64
    assert float(tags[lineage.DRIFT_SHARE]) >= 0.5


def test_same_window_again_is_deduplicated(flow, tmp_path):
    again = flow["again"]
    assert again.code == 0, again.stderr[-2000:]
    assert again.summary["drift"]["decision"] == "skip"
    assert flow["after_again"] == flow["after_drifted"]
    client = mlflow.MlflowClient(tracking_uri=settings.tracking_uri())
    runs = client.search_runs(
        [client.get_experiment_by_name("kfp-ct-drift").experiment_id],
        filter_string=f"tags.`{lineage.PIPELINE_RUN_ID}` = '{again.summary['run_id']}'",
    )
    reasons = runs[0].data.tags[lineage.DECISION_REASONS]
    assert "duplicate data" in reasons, reasons
    path = client.download_artifacts(runs[0].info.run_id, "drift/summary.json", str(tmp_path))
    assert json.loads(Path(path).read_text())["decision"] == "skip"
