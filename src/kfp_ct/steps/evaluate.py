"""Step `evaluate`: metrics and latency on the held-out split, added to the training run.

Besides the metrics it measures their confidence intervals and draws the evaluation plots
(confusion matrix, ROC and PR curves, or residual plots), writes them with the curves as the
`evaluation` JSON (read by the run report and the model card) and logs both to the training run.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from kfp_ct.core.schema import Schema
from kfp_ct.tracking import models, runs

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class EvaluateParams:
    """Where the metrics go."""

    run_id: str = ""  # MLflow run of the training step; empty logs nowhere
    n_resamples: int = 200  # bootstrap resamples of the metrics' confidence intervals
    plots: bool = True  # draw the evaluation plots


@dataclass(frozen=True, kw_only=True)
class EvaluatePaths:
    """Files evaluate reads (model, test_set, schema) and writes (report, Markdown)."""

    model: Path
    test_set: Path
    schema: Path
    report: Path
    evaluation: Path | None = None  # JSON: metrics, intervals, curves, plots (base64 PNG)


EVALUATION_FILE = "evaluation.json"  # the `evaluation` JSON in the training run (without images)
PLOTS_DIR = "plots"  # the PNGs in the training run


@dataclass
class EvaluateOutput:
    """What evaluate measured on the held-out rows."""

    metrics: dict[str, float]
    latency_ms: dict[str, float]  # p50/p99 of single-row predictions
    classes: list[str] | None = None
    confusion: list[list[int]] | None = None
    roc: dict[str, list[float]] | None = None  # fpr, tpr, thresholds (binary)
    diagnostics: dict[str, Any] = field(default_factory=dict)  # core.diagnostics.diagnose + latency
    images: dict[str, bytes] = field(default_factory=dict)  # plot name -> PNG


def evaluation_json(diagnostics: dict[str, Any], images: dict[str, bytes]) -> str:
    """The `evaluation` artifact: the diagnostics with each plot as base64 PNG under `images`."""
    encoded = {name: base64.b64encode(png).decode("ascii") for name, png in images.items()}
    return json.dumps({**diagnostics, "images": encoded})


def read_evaluation(path: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    """(diagnostics, images) from an `evaluation` artifact."""
    data = json.loads(Path(path).read_text())
    images = {name: base64.b64decode(text) for name, text in data.pop("images", {}).items()}
    return data, images


def serving_latency_ms(model: Any, frame: pd.DataFrame, repeats: int = 200) -> dict[str, float] | None:
    """p50/p99 of single-row predictions on the path the model server takes for them.

    That is the compiled fast path (`kfp_ct.serving.fastpath`) for a pipeline it covers, with
    the DataFrame path for a row it does not take (a missing value); None for any other
    pipeline (`evaluate_model` then times `Pipeline.predict`).
    """
    from kfp_ct.core.evaluate import call_latency_ms
    from kfp_ct.serving.fastpath import CompiledPipeline

    compiled = CompiledPipeline.compile(model)
    if compiled is None or frame.empty:
        return None

    def call(columns: dict[str, list]) -> Any:
        return compiled.answer(columns, 1) or model.predict(pd.DataFrame(columns))

    return call_latency_ms(call, compiled.requests(frame, repeats))


def run(params: EvaluateParams, paths: EvaluatePaths) -> EvaluateOutput:
    """Evaluate on the held-out split, write the report and add both to the training run."""
    from kfp_ct.core import metrics
    from kfp_ct.core.diagnostics import diagnose
    from kfp_ct.core.evaluate import evaluate_model

    schema = Schema.load(paths.schema)
    test = pd.read_parquet(paths.test_set)
    model = models.load_model(paths.model)
    features = models.model_features(model, schema.feature_columns(test))
    latency = serving_latency_ms(model, test[features])
    evaluation = evaluate_model(model, test, features, schema.label, schema.task, latency)
    report = evaluation.to_markdown()
    Path(paths.report).write_text(report)
    logged = {f"test_{k}": v for k, v in evaluation.metrics.items()}
    logged |= {f"latency_{k}_ms": v for k, v in evaluation.latency_ms.items()}
    scored = evaluation.scored or metrics.score(model, test[features], test[schema.label])
    diagnostics = diagnose(schema.task, scored, params.n_resamples)
    diagnostics["metrics"] = evaluation.metrics  # the recorded values (n_rows included)
    diagnostics["latency_ms"] = evaluation.latency_ms
    images: dict[str, bytes] = {}
    if params.plots:
        from kfp_ct.report.plots import evaluation_images

        images = evaluation_images(diagnostics)
    if paths.evaluation is not None:
        Path(paths.evaluation).write_text(evaluation_json(diagnostics, images))
    if params.run_id:
        runs.log_to_run(
            params.run_id, logged, {"evaluation.md": report, EVALUATION_FILE: json.dumps(diagnostics)}
        )
        runs.log_binary(params.run_id, {f"{PLOTS_DIR}/{name}.png": png for name, png in images.items()})
    return EvaluateOutput(
        evaluation.metrics,
        evaluation.latency_ms,
        evaluation.classes,
        evaluation.confusion,
        evaluation.roc,
        diagnostics,
        images,
    )
