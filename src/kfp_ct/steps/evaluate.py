"""Step `evaluate`: metrics and latency on the held-out split, added to the training run."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from kfp_ct.core.schema import Schema
from kfp_ct.tracking import models, runs

if TYPE_CHECKING:  # scikit-learn-heavy modules load only in the steps that use them
    from kfp_ct.core.evaluate import Evaluation

log = logging.getLogger(__name__)


def evaluate_step(model_dir: Path, test_path: Path, schema_path: Path, run_id: str) -> Evaluation:
    """Evaluate on the held-out split and add the metrics and report to the training run."""
    from kfp_ct.core.evaluate import evaluate_model

    schema = Schema.load(schema_path)
    test = pd.read_parquet(test_path)
    model = models.load_model(model_dir)
    features = models.model_features(model, schema.feature_columns(test))
    evaluation = evaluate_model(model, test, features, schema.label, schema.task)
    logged = {f"test_{k}": v for k, v in evaluation.metrics.items()}
    logged |= {f"latency_{k}_ms": v for k, v in evaluation.latency_ms.items()}
    if run_id:
        runs.log_to_run(run_id, logged, {"evaluation.md": evaluation.to_markdown()})
    return evaluation
