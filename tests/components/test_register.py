"""Component `register` alone through kfp.local: a new version, its tags and alias `challenger`."""

from __future__ import annotations

import json

import pytest
from kfp.dsl import Artifact
from mlflow import MlflowClient

from kfp_ct import lineage, settings
from kfp_ct.components import register

from .helpers import compare_here, run_alone, train_here

pytestmark = pytest.mark.slow
NAME = "comp-register"


@pytest.fixture(scope="module")
def ran(home, validated, data_csv):
    trained = train_here(validated, home / "model")
    decided = compare_here(validated, home / "model", NAME, home)
    out = run_alone(
        register,
        home / "root",
        {"decision_record": (decided.decision_record, Artifact)},
        model_name=NAME,
        model_uri=trained.model_uri,
        run_id=trained.run_id,
        metrics_json=json.dumps({"roc_auc": 0.87654321}),
        pipeline_run_id="comp-register-run",
        data_hash="hash-2",
        data_uri=str(data_csv),
        extra_tags=json.dumps({lineage.WINDOW_HASH: "w-1"}),
    )
    return trained, out


def test_the_new_version_is_the_challenger(ran):
    _, out = ran
    assert out.parameters == {"model_version": "1"}
    client = MlflowClient(tracking_uri=settings.tracking_uri())
    assert {k: str(v) for k, v in client.get_registered_model(NAME).aliases.items()} == {
        lineage.CHALLENGER: "1"
    }


def test_version_tags_carry_lineage_metrics_and_decision(ran, data_csv):
    trained, _ = ran
    version = MlflowClient(tracking_uri=settings.tracking_uri()).get_model_version(NAME, "1")
    tags = version.tags
    assert version.run_id == trained.run_id
    assert tags[lineage.DECISION] == "first-model" and tags[lineage.DECISION_REASONS].startswith(
        "no champion yet"
    )
    assert tags[f"{lineage.METRIC_TAG_PREFIX}roc_auc"] == "0.876543"
    assert tags[lineage.PIPELINE_RUN_ID] == "comp-register-run" and tags[lineage.DATA_HASH] == "hash-2"
    assert tags[lineage.DATA_URI] == str(data_csv) and tags[lineage.WINDOW_HASH] == "w-1"
    assert len(tags[lineage.MODEL_SHA256]) == 64
