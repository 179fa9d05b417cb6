"""Component `compare` alone through kfp.local: the decision under `Output`, record, report, metrics.

The champion is a registered copy of the challenger (made champion by the deploy step with
target none): the same predictions never count as an improvement.
"""

from __future__ import annotations

import json

import pytest
from kfp.dsl import Artifact, Dataset, Model

from kfp_ct.components import compare
from kfp_ct.steps import deploy
from kfp_ct.steps.compare import CompareOutput

from .helpers import compare_here, register_here, run_alone, train_here

pytestmark = pytest.mark.slow
NAME = "comp-compare"


@pytest.fixture(scope="module")
def ran(home, validated):
    trained = train_here(validated, home / "model")
    first = compare_here(validated, home / "model", NAME, home)  # no champion yet: first-model
    version = register_here(trained, NAME, first.decision_record)
    deploy.run(
        deploy.DeployParams(model_name=NAME, model_version=version, target="none"),
        deploy.DeployPaths(
            model=home / "model", test_set=validated.test_set, decision_record=first.decision_record
        ),
    )
    inputs = {
        "model": (home / "model", Model),
        "test_set": (validated.test_set, Dataset),
        "schema": (validated.schema, Artifact),
    }
    return run_alone(
        compare,
        home / "root",
        inputs,
        model_name=NAME,
        primary_metric="auto",
        min_improvement=0.0,
        guardrails='{"accuracy": 0.01}',
        require_significance=True,
        alpha=0.05,
        n_bootstrap=200,
    )


def test_the_decision_is_the_output_named_output(ran):
    assert ran.parameters == {"Output": "reject"}


def test_decision_record_names_the_champion(ran):
    record = json.loads(ran.artifacts["decision_record"].path.read_text())
    assert record["decision"] == "reject" and record["champion_version"] == "1"
    assert record["primary_metric"] == "roc_auc" and record["rows"] == 80
    assert any("needs an improvement" in r for r in record["reasons"])
    assert any("guardrail accuracy held" in r for r in record["reasons"])
    assert CompareOutput.read_champion(ran.artifacts["decision_record"].path) == "1"


def test_metrics_and_report(ran):
    metrics = ran.artifacts["metrics"].metadata
    assert metrics["challenger_roc_auc"] == pytest.approx(metrics["champion_roc_auc"])
    assert 0.7 < metrics["challenger_roc_auc"] <= 1.0
    assert metrics["delta"] == pytest.approx(0.0) and 0.0 <= metrics["p_value"] <= 1.0
    assert ran.artifacts["report"].path.read_text().startswith("# Decision: **reject**")
