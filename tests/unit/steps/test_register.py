"""`kfp_ct.steps.register.run`: a new version with lineage, metric and decision tags, alias challenger."""

from __future__ import annotations

import json

import pytest

from kfp_ct import lineage
from kfp_ct.errors import ParameterError
from kfp_ct.steps.register import RegisterParams, RegisterPaths, run
from kfp_ct.tracking import registry


def decision_record(tmp_path, decision: str = "first-model") -> RegisterPaths:
    path = tmp_path / "decision.json"
    path.write_text(
        json.dumps({"decision": decision, "reasons": ["no champion yet", "ok"], "champion_version": ""})
    )
    return RegisterPaths(decision_record=path)


def test_register_tags_the_version_and_points_challenger_at_it(trained, tmp_path):
    params = RegisterParams.from_kfp(
        model_name="unit-register",
        model_uri=trained.out.model_uri,
        run_id=trained.out.run_id,
        metrics_json=json.dumps({"roc_auc": 0.91234567, "accuracy": 0.8}),
        pipeline_run_id="unit-run",
        data_hash="abc123",
        data_uri=str(trained.data),
        extra_tags=json.dumps({"kfp_ct.window_hash": "w1", "team": 7}),
    )
    out = run(params, decision_record(tmp_path))
    assert out.model_version == "1"
    assert registry.aliases("unit-register") == {lineage.CHALLENGER: "1"}
    tags = registry.get_version("unit-register", "1").tags
    assert tags[lineage.DECISION] == "first-model"
    assert tags[lineage.DECISION_REASONS] == "no champion yet; ok"
    assert tags[f"{lineage.METRIC_TAG_PREFIX}roc_auc"] == "0.912346"
    assert tags[f"{lineage.METRIC_TAG_PREFIX}accuracy"] == "0.8"
    assert tags[lineage.PIPELINE_RUN_ID] == "unit-run" and tags[lineage.DATA_HASH] == "abc123"
    assert tags[lineage.DATA_URI] == str(trained.data)
    assert tags["kfp_ct.window_hash"] == "w1" and tags["team"] == "7"
    assert len(tags[lineage.MODEL_SHA256]) == 64


def test_registering_the_same_model_again_reuses_its_version(trained, tmp_path):
    params = RegisterParams(
        model_name="unit-register-twice", model_uri=trained.out.model_uri, run_id=trained.out.run_id
    )
    first = run(params, decision_record(tmp_path))
    again = run(params, decision_record(tmp_path))
    assert first.model_version == again.model_version == "1"


@pytest.mark.parametrize(
    ("field", "text", "message"),
    [
        ("extra_tags", "{not json", "extra_tags: not valid JSON"),
        ("extra_tags", '["a"]', "extra_tags: must be a JSON object"),
        ("metrics_json", "{1: 2}", "metrics_json: not valid JSON"),
    ],
)
def test_params_from_kfp_reject_bad_json(field, text, message):
    texts = {"metrics_json": "{}", "extra_tags": "{}", field: text}
    with pytest.raises(ParameterError, match=message):
        RegisterParams.from_kfp(model_uri="models:/m-1", run_id="r", **texts)


def test_register_writes_the_versions_model_card(trained, tmp_path):
    params = RegisterParams.from_kfp(
        model_name="unit-card",
        model_uri=trained.out.model_uri,
        run_id=trained.out.run_id,
        metrics_json=json.dumps({"roc_auc": 0.9, "n_rows": 80.0}),
        pipeline_run_id="unit-run",
        data_hash="abc123",
        data_uri=str(trained.data),
        extra_tags="{}",
        intended_use="unit testing",
    )
    out = run(params, decision_record(tmp_path))
    card = out.model_card
    assert {"model_details", "model_parameters", "quantitative_analysis", "considerations"} <= set(card)
    assert card["considerations"]["use_cases"] == [{"description": "unit testing"}]
    assert card["model_details"]["version"]["name"] == out.model_version
    assert card["lineage"]["data_hash"] == "abc123" and card["model_parameters"]["input_format_map"]
    version = registry.get_version("unit-card", out.model_version)
    assert version.tags[lineage.MODEL_CARD] == out.model_card_uri
    assert out.model_card_uri.endswith("model_card/model_card.md")
