"""A local webhook receives the exit task's notification for promoted, rejected and failed runs.

Five `kfp-ct run --notify URL` calls in one home, on 400 rows with deploy target `none`: a dummy
first model, a better logistic regression (promote), a dummy again (reject), a run whose label
column does not exist (fails in validate, before training), and a retraining run on the same
data (its drift check decides `skip`).
"""

from __future__ import annotations

import pytest

from kfp_ct.data.io import write_table
from kfp_ct.data.synth import SynthSpec, make_dataset
from tests.webhook import webhook

from .helpers import FAST, kfp_ct

SMALL = [*FAST, "--param", "deploy_target=none", "--param", "notify_format=json"]


@pytest.fixture(scope="module")
def hook():
    with webhook("/hooks/T000/B000/secret-token") as h:
        yield h


@pytest.fixture(scope="module")
def runs(tmp_path_factory, hook):
    home = tmp_path_factory.mktemp("notify-home")
    env = {"KFP_CT_HOME": str(home), "MLFLOW_TRACKING_URI": ""}
    data = write_table(make_dataset(SynthSpec(rows=400, seed=3)), home / "d.csv")
    out = {}
    for name, extra in [
        ("first", ["--param", "estimator=dummy"]),
        ("promote", ["--param", "estimator=logistic_regression"]),
        ("reject", ["--param", "estimator=dummy"]),
        ("failed", ["--label", "no_such_column"]),
        ("skip", ["--pipeline", "retraining", "--reference", str(data)]),
    ]:
        before = len(hook.posts)
        result = kfp_ct("run", "--data", str(data), "--json", "--notify", hook.url, *SMALL, *extra, env=env)
        out[name] = (result, hook.posts[before:])
    return out


def _one(runs, name):
    result, posts = runs[name]
    assert len(posts) == 1, (posts, result.stderr[-3000:])
    assert posts[0]["path"] == "/hooks/T000/B000/secret-token"
    return result, posts[0]["body"]


@pytest.mark.parametrize("name, decision", [("first", "first-model"), ("promote", "promote")])
def test_a_promoted_run_is_reported_with_its_version_and_metrics(runs, name, decision):
    result, body = _one(runs, name)
    assert result.code == 0, result.stderr[-3000:]
    assert body["status"] == "succeeded" and body["decision"] == decision
    assert body["model_version"] == result.summary["model_version"]
    assert body["run_id"] == result.summary["run_id"]
    assert body["metrics"]["accuracy"] == pytest.approx(result.summary["metrics"]["accuracy"])
    assert body["link"].endswith(f"runs/{result.summary['run_id']}/report.html")
    assert body["error"] == ""


def test_a_rejected_run_is_reported_without_a_version(runs):
    result, body = _one(runs, "reject")
    assert result.code == 0 and result.summary["decision"] == "reject"
    assert body["status"] == "succeeded" and body["decision"] == "reject"
    assert body["model_version"] is None and "accuracy" in body["metrics"]


def test_a_failed_run_is_reported_with_its_error_and_still_fails(runs):
    result, body = _one(runs, "failed")
    assert result.code != 0 and "validate" in result.stderr
    assert body["status"] == "failed" and body["decision"] == "unknown"
    assert body["error"].startswith("step 'validate' failed: ") and "no_such_column" in body["error"]
    assert body["metrics"] == {} and body["model_version"] is None


def test_a_retraining_run_reports_its_drift_decision(runs):
    result, body = _one(runs, "skip")
    assert result.code == 0 and result.summary["drift"]["decision"] == "skip"
    assert (body["pipeline"], body["status"], body["decision"]) == ("retraining", "succeeded", "skip")
    assert body["reasons"] and body["model_version"] is None
