"""Every registered version has a model card: in MLflow, on the version, and from `kfp-ct status --card`."""

from __future__ import annotations

import json

import mlflow
import pytest

from kfp_ct import lineage

from .conftest import INTENDED_USE, run_cli

pytestmark = pytest.mark.slow
SECTIONS = {"model_details", "model_parameters", "quantitative_analysis", "considerations"}


def test_status_card_prints_the_champions_card(default_run):
    assert default_run.proc.returncode == 0, default_run.proc.stderr[-2000:]
    proc = run_cli(default_run.env, "status", "--card", timeout=120)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert text.startswith("# Model card: kfp-ct-model v1") and INTENDED_USE in text
    for heading in ("## Model details", "## Intended use", "## Model parameters", "## Quantitative analysis",
                    "## Considerations", "## Lineage"):  # fmt: skip
        assert heading in text
    assert "| roc_auc |" in text and "95% CI" in text and "Downloading" not in proc.stderr


def test_the_card_json_has_the_model_card_toolkit_sections_with_intervals(default_run):
    proc = run_cli(default_run.env, "status", "--card", "--json", timeout=120)
    card = json.loads(proc.stdout)
    assert set(card) >= SECTIONS
    metrics = {m["type"]: m for m in card["quantitative_analysis"]["performance_metrics"]}
    interval = metrics["roc_auc"]["confidence_interval"]
    low, high = float(interval["lower_bound"]), float(interval["upper_bound"])
    assert low <= float(metrics["roc_auc"]["value"]) <= high
    assert card["considerations"]["use_cases"] == [{"description": INTENDED_USE}]
    assert card["model_parameters"]["model_architecture"] == "hist_gradient_boosting"
    assert {m["key"] for m in card["model_parameters"]["input_format_map"]} >= {"age", "region"}
    assert card["quantitative_analysis"]["decision"]["decision"] == "first-model"


def test_the_card_is_on_the_version_in_mlflow(default_run):
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{default_run.home / 'mlflow.db'}")
    version = client.get_model_version("kfp-ct-model", "1")
    assert version.tags[lineage.MODEL_CARD].endswith("model_card/model_card.md")
    assert version.description.startswith("# Model card: kfp-ct-model v1")
    names = {a.path for a in client.list_artifacts(version.run_id, "model_card")}
    assert names == {"model_card/model_card.md", "model_card/model_card.json"}
