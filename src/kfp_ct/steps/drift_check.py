"""The drift step of the retraining pipeline: decide retrain/skip and build the training set.

Reference data is the champion's training data (its `kfp_ct.data_uri` lineage tag) unless given.
Every decision is an MLflow run in the `kfp-ct-drift` experiment tagged with the window's hash,
so the de-duplication and cooldown guards see earlier windows even when compare rejected the
model trained on them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from kfp_ct import lineage
from kfp_ct.core.tasks import infer_task, is_classification
from kfp_ct.data.hashing import frame_hash
from kfp_ct.data.io import read_table
from kfp_ct.data.split import SPLIT_COLUMN, mark_sides, split_frame
from kfp_ct.errors import DataError
from kfp_ct.tracking import history, models

log = logging.getLogger(__name__)
DRIFT_EXPERIMENT = "kfp-ct-drift"
RETRAIN, SKIP = "retrain", "skip"


@dataclass
class DriftOutcome:
    """What the drift step decided and produced."""

    decision: str
    reasons: list[str]
    window_hash: str
    training_rows: int
    summary: dict[str, Any]  # share, drifted features, decision (the CLI's `drift` field)

    def lineage_tags(self) -> dict[str, str]:
        """Tags the retrained model version carries."""
        return {
            lineage.WINDOW_HASH: self.window_hash,
            lineage.DRIFT_SHARE: f"{self.summary.get('share', 0.0):.4f}",
        }


def reference_with_holdout(
    frame: pd.DataFrame, label: str, test_size: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The reference data and the rows of it the champion did not train on.

    A retrained champion's data marks its held-out rows (SPLIT_COLUMN); otherwise the same
    seeded split the continuous-training pipeline made is reproduced.
    """
    if SPLIT_COLUMN in frame.columns:
        held_out = frame[frame[SPLIT_COLUMN] == "test"].drop(columns=[SPLIT_COLUMN])
        return frame.drop(columns=[SPLIT_COLUMN]), held_out
    if label not in frame.columns:
        return frame, frame
    stratify = is_classification(infer_task(frame[label]))
    return frame, split_frame(frame, label, test_size, seed, stratify)[1]


def primary_only(
    recorded: dict[str, float], primary: str, reference: pd.DataFrame, label: str
) -> dict[str, float]:
    """The champion's recorded primary metric alone: one decay test, not one per metric."""
    from kfp_ct.core.metrics import default_primary

    if not recorded or label not in reference.columns:
        return {}
    name = primary if primary not in ("", "auto") else default_primary(infer_task(reference[label]))
    return {name: recorded[name]} if name in recorded else {}


def drift_step(
    window_uri: str,
    reference_uri: str,
    label: str,
    model_name: str,
    drift_config: str,
    training_policy: str,
    max_training_rows: int,
    cooldown_hours: float,
    primary_metric: str,
    test_size: float,
    seed: int,
    pipeline_run_id: str,
    training_set_path: Path,
    html_path: Path,
    report_path: Path,
) -> DriftOutcome:
    """Check the window for drift against the reference; write the training set when retraining."""
    from kfp_ct.drift import (
        DriftConfig,
        build_training_set,
        check_guards,
        detect_drift,
        render_evidently_html,
    )

    config = DriftConfig.from_dict(json.loads(drift_config or "{}"))
    window = read_table(window_uri)
    window_hash = frame_hash(window)
    champion_ref, champion = models.load_champion(model_name)
    champion_metrics = models.recorded_metrics(champion_ref) if champion_ref else {}
    reference_uri = reference_uri or (champion_ref.tags.get(lineage.DATA_URI, "") if champion_ref else "")
    guards = check_guards(
        history.earlier_trainings(model_name, DRIFT_EXPERIMENT, RETRAIN), window_hash, cooldown_hours
    )
    if not reference_uri:
        reference = None
        decision = SKIP if guards.skip else RETRAIN
        reasons = ["no champion and no reference data: training a first model on the window"]
        reasons += [f"guard: {r}" for r in guards.reasons]
        summary = {"decision": decision, "share": 0.0, "drifted_features": []}
        Path(report_path).write_text("# Drift check\n\n" + "\n".join(f"- {r}" for r in reasons))
        Path(html_path).write_text("<html><body><p>No reference data: first model.</p></body></html>")
    else:
        reference, held_out = reference_with_holdout(read_table(reference_uri), label, test_size, seed)
        if label in reference.columns and label not in window.columns:
            log.info("window has no label '%s': performance decay is not checked", label)
        report = detect_drift(
            reference,
            window,
            label=label if label in reference.columns else None,
            champion=champion,
            champion_metrics=primary_only(champion_metrics, primary_metric, reference, label),
            config=config,
            prediction_reference=held_out,
        ).with_guards(guards)
        decision, reasons = report.decision, report.reasons
        summary = {
            "decision": decision,
            "share": round(report.share_drifted, 4),
            "drifted_features": report.drifted_features,
        }
        Path(report_path).write_text(report.to_markdown())
        columns = report.drifted_features + [f.feature for f in report.features if not f.drifted]
        render_evidently_html(reference, window, html_path, columns=columns, seed=seed)
    rows = 0
    if decision == RETRAIN:
        if label not in window.columns:
            raise DataError(f"{window_uri}: label column '{label}' missing; retraining needs labels")
        # Hold out new rows only: neither the champion nor the challenger has seen them.
        stratify = is_classification(infer_task(window[label]))
        window_train, window_test = split_frame(window, label, test_size, seed, stratify)
        past = reference if reference is not None else window.iloc[0:0]
        train = build_training_set(
            past, window_train, policy=training_policy, max_rows=max_training_rows or None, seed=seed
        )
        training = mark_sides(train, window_test[list(train.columns)])
        training.to_parquet(training_set_path, index=False)
        rows = len(training)
    else:
        pd.DataFrame().to_parquet(training_set_path)
    outcome = DriftOutcome(decision, reasons, window_hash, rows, summary)
    history.record_drift_decision(
        DRIFT_EXPERIMENT,
        {
            lineage.DECISION: outcome.decision,
            lineage.DECISION_REASONS: " | ".join(outcome.reasons)[:4000],
            lineage.WINDOW_HASH: outcome.window_hash,
            lineage.DATA_URI: window_uri,
            lineage.PIPELINE_RUN_ID: pipeline_run_id,
            lineage.MODEL_NAME: model_name,
        },
        {"drift_share": outcome.summary["share"], "training_rows": outcome.training_rows},
        outcome.summary,
        html_path,
    )
    log.info("drift decision: %s (%s)", decision, "; ".join(reasons))
    return outcome
