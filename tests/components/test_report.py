"""Component `report` alone through kfp.local: the run report as the pipeline's `HTML` output."""

from __future__ import annotations

import json

import pytest
from kfp.dsl import Artifact

from kfp_ct.components import report
from kfp_ct.steps import evaluate, validate

from .helpers import run_alone, train_here

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ran(home, data_csv):
    work = home / "files"
    work.mkdir(parents=True)
    v = validate.ValidatePaths(
        train_set=work / "train.parquet", test_set=work / "test.parquet", schema=work / "schema.json",
        report=work / "validate.md", validation=work / "validation.json",
    )  # fmt: skip
    validate.run(validate.ValidateParams(data_uri=str(data_csv), model_name=""), v)
    train_here(v, work / "model")
    e = evaluate.EvaluatePaths(
        model=work / "model", test_set=v.test_set, schema=v.schema, report=work / "eval.md",
        evaluation=work / "evaluation.json",
    )  # fmt: skip
    evaluate.run(evaluate.EvaluateParams(n_resamples=100), e)
    record = work / "decision.json"
    record.write_text(json.dumps({"decision": "first-model", "reasons": ["no champion yet"], "rows": 80}))
    inputs = {
        "validation": (v.validation, Artifact),
        "evaluation": (e.evaluation, Artifact),
        "decision_record": (record, Artifact),
    }
    return run_alone(
        report, home / "root", inputs, model_name="m", pipeline_run_id="run-7", mlflow_run_id="abc",
        data_uri=str(data_csv), data_hash="h-1", drift_summary="{}",
    )  # fmt: skip


def test_the_html_output_is_the_whole_report(ran):
    page = ran.artifacts["report"].path.read_text()
    for section in ("validation", "metrics", "plots", "decision", "lineage"):
        assert f'<section id="{section}">' in page
    for image in ("confusion_matrix", "roc_curve", "pr_curve"):
        assert f'<img id="{image}"' in page
    assert "run-7" in page and "h-1" in page
    metadata = ran.artifacts["report"].metadata
    assert metadata["size_bytes"] == len(page.encode()) and "decision" in metadata["sections"]
