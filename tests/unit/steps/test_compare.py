"""`kfp_ct.steps.compare.run`: challenger vs champion on the same rows; the record and the report."""

from __future__ import annotations

import json

import pytest

from kfp_ct.errors import ParameterError
from kfp_ct.steps import deploy, register
from kfp_ct.steps.compare import CompareOutput, CompareParams, ComparePaths, run


def paths(trained, tmp_path) -> ComparePaths:
    return ComparePaths(
        model=trained.model,
        test_set=trained.test_set,
        schema=trained.schema,
        decision_record=tmp_path / "decision.json",
        report=tmp_path / "compare.md",
    )


def make_champion(trained, tmp_path, name: str) -> str:
    """Register the trained model under `name` and promote it (deploy target none)."""
    record = tmp_path / "first.json"
    record.write_text(json.dumps({"decision": "first-model", "reasons": [], "champion_version": ""}))
    version = register.run(
        register.RegisterParams(model_name=name, model_uri=trained.out.model_uri, run_id=trained.out.run_id),
        register.RegisterPaths(decision_record=record),
    ).model_version
    out = deploy.run(
        deploy.DeployParams(model_name=name, model_version=version, target="none"),
        deploy.DeployPaths(model=trained.model, test_set=trained.test_set, decision_record=record),
    )
    assert (out.target, out.endpoint, out.champion_version, out.previous_champion) == (
        "none",
        "",
        version,
        None,
    )
    return version


def test_first_model_without_a_champion(trained, tmp_path):
    out = run(CompareParams(model_name="unit-compare-first", n_bootstrap=200), paths(trained, tmp_path))
    d = out.decision
    assert d.decision == "first-model" and out.champion_version == ""
    assert d.primary_metric == "roc_auc" and 0.7 < d.challenger["roc_auc"] <= 1.0
    assert d.champion is None and d.test is None and d.rows == 80
    record = CompareOutput.read(tmp_path / "decision.json")
    assert record["decision"] == "first-model" and record["champion_version"] == ""
    assert CompareOutput.read_champion(tmp_path / "decision.json") is None
    assert (tmp_path / "compare.md").read_text().startswith("# Decision: **first-model**")


def test_a_copy_of_the_champion_is_rejected(trained, tmp_path):
    name = "unit-compare-champion"
    version = make_champion(trained, tmp_path, name)
    out = run(CompareParams(model_name=name, n_bootstrap=200), paths(trained, tmp_path))
    d = out.decision
    assert d.decision == "reject" and out.champion_version == version == "1"
    assert d.champion == pytest.approx(d.challenger) and d.test.delta == pytest.approx(0.0)
    assert any("needs an improvement" in r for r in d.reasons)
    assert CompareOutput.read_champion(tmp_path / "decision.json") == "1"


def test_params_from_kfp_parse_guardrails_into_the_policy():
    params = CompareParams.from_kfp(model_name="m", guardrails='{"accuracy": 0.02}', alpha=0.1)
    policy = params.policy()
    assert policy.guardrails == {"accuracy": 0.02} and policy.alpha == 0.1 and policy.n_bootstrap == 1000
    with pytest.raises(ParameterError, match=r"guardrails \(metric -> tolerance\): not valid JSON"):
        CompareParams.from_kfp(guardrails="{accuracy: 1}")


def test_the_record_carries_the_smoke_expectations_deploy_uses(trained, tmp_path, monkeypatch):
    import pandas as pd

    from kfp_ct.tracking import models

    run(CompareParams(model_name="unit-compare-smoke", n_bootstrap=200), paths(trained, tmp_path))
    smoke = CompareOutput.read(tmp_path / "decision.json")["smoke"]
    model = models.load_model(trained.model)
    rows = pd.read_parquet(trained.test_set)[smoke["features"]].head(20)
    assert smoke["features"] == list(model.feature_names_in_)
    assert smoke["expected"] == [v.item() for v in model.predict(rows)]
    monkeypatch.setattr(models, "load_model", lambda *_: pytest.fail("deploy loaded the model"))
    test = deploy.smoke_test(trained.model, trained.test_set, record=tmp_path / "decision.json")
    assert test.expected == smoke["expected"] and test.features.equals(rows.reset_index(drop=True))
