"""The run report: written for every run, self-contained, and complete in a real browser.

Debian's headless Chromium (installed by `make tools`) opens it: a screenshot is taken, the page
logs no console error, and the pictures are there (confusion matrix, ROC and PR curves for the
classifier of the default run; residual plots for a regressor built by the steps themselves).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import mlflow
import pytest

from kfp_ct.data.synth import SynthSpec, make_dataset

from .chromium import needs_chromium, open_page
from .conftest import run_cli

pytestmark = pytest.mark.slow
SECTIONS = ("steps", "validation", "metrics", "plots", "decision", "lineage")
CLASSIFIER_IMAGES = ("confusion_matrix", "roc_curve", "pr_curve")
REGRESSOR_IMAGES = ("residuals", "residual_histogram", "predicted_vs_true")


def printed_report(proc) -> Path:
    [line] = [line for line in proc.stdout.splitlines() if line.startswith("report ")]
    return Path(line.split(None, 1)[1])


def assert_self_contained(page: str) -> None:
    assert not re.search(r"""(src|href|url)\s*[=(]\s*["']?\s*(https?:|//)""", page, re.I)
    assert "<script" not in page.lower() and "@import" not in page


def image_ids(page: str) -> set[str]:
    return set(re.findall(r'<img id="([^"]+)" alt="[^"]+" src="data:image/png;base64,', page))


def test_every_run_writes_a_small_self_contained_report(default_run):
    report = printed_report(default_run.proc)
    assert report == default_run.home / "runs" / report.parent.name / "report.html"
    page = report.read_text()
    assert 20_000 < len(page.encode()) < 1_000_000  # small enough for the Kubeflow UI
    assert_self_contained(page)
    for section in SECTIONS:
        assert f'<section id="{section}">' in page
    assert image_ids(page) >= set(CLASSIFIER_IMAGES)
    assert "95% CI" in page and "first-model" in page and "data hash" in page


def test_the_report_is_the_pipelines_html_output_too(default_run):
    record = json.loads((printed_report(default_run.proc).parent / "run.json").read_text())
    html = Path(record["run_dir"]) / "report" / "report"
    assert html.is_file() and image_ids(html.read_text()) >= set(CLASSIFIER_IMAGES)


def test_kfp_ct_report_rebuilds_a_runs_page(default_run):
    report = printed_report(default_run.proc)
    report.unlink()
    proc = run_cli(default_run.env, "report", report.parent.name, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(report) and report.is_file()
    unknown = run_cli(default_run.env, "report", "no-such-run", timeout=120)
    assert unknown.returncode == 2 and "no local run 'no-such-run'" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_the_plots_are_logged_to_mlflow(default_run):
    record = json.loads((printed_report(default_run.proc).parent / "run.json").read_text())
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{default_run.home / 'mlflow.db'}")
    version = client.get_model_version("kfp-ct-model", record["summary"]["model_version"])
    plots = {Path(a.path).name for a in client.list_artifacts(version.run_id, "plots")}
    assert plots >= {f"{name}.png" for name in CLASSIFIER_IMAGES}
    assert "evaluation.json" in {a.path for a in client.list_artifacts(version.run_id)}


@needs_chromium()
def test_chromium_shows_the_classifier_report_without_console_errors(default_run, tmp_path):
    report = printed_report(default_run.proc)
    opened = open_page(report, tmp_path)
    assert opened.errors == [] and opened.console == []
    assert opened.screenshot.stat().st_size > 50_000  # a page with pictures, not a blank one
    assert image_ids(report.read_text()) >= set(CLASSIFIER_IMAGES)


@pytest.fixture
def regressor_report(kfp_home, tmp_path) -> Path:
    """A regressor's report made by the steps themselves (validate, train, evaluate, report)."""
    from kfp_ct.steps import evaluate, report, train, validate

    frame = make_dataset(SynthSpec(rows=600, seed=5))
    frame["label"] = frame["income"] / 1000 + frame["age"] * 0.5
    data = tmp_path / "regression.csv"
    frame.drop(columns=["income"]).to_csv(data, index=False)
    v = validate.ValidatePaths(
        train_set=tmp_path / "train.parquet", test_set=tmp_path / "test.parquet",
        schema=tmp_path / "schema.json", report=tmp_path / "validation.md",
        validation=tmp_path / "validation.json",
    )  # fmt: skip
    validate.run(validate.ValidateParams(data_uri=str(data), task="regression", model_name=""), v)
    trained = train.run(
        train.TrainParams(hyperparameters={"max_iter": 30}),
        train.TrainPaths(train_set=v.train_set, schema=v.schema, model=tmp_path / "model"),
    )
    e = evaluate.EvaluatePaths(
        model=tmp_path / "model", test_set=v.test_set, schema=v.schema, report=tmp_path / "eval.md",
        evaluation=tmp_path / "evaluation.json",
    )  # fmt: skip
    evaluate.run(evaluate.EvaluateParams(run_id=trained.run_id, n_resamples=100), e)
    out = report.run(
        report.ReportParams(title="regressor", lineage={"MLflow run": trained.run_id}),
        report.ReportPaths(report=tmp_path / "report.html", validation=v.validation, evaluation=e.evaluation),
    )
    return out.path


@needs_chromium()
def test_chromium_shows_the_regressor_residual_plots(regressor_report, tmp_path):
    page = regressor_report.read_text()
    assert_self_contained(page)
    assert image_ids(page) == set(REGRESSOR_IMAGES)  # residual plots, no classifier curves
    assert "rmse" in page and "95% CI" in page
    opened = open_page(regressor_report, tmp_path)
    assert opened.errors == [] and opened.screenshot.stat().st_size > 30_000
