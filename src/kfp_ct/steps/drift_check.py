"""Step `drift_check` of the retraining pipeline: decide retrain/skip and build the training set.

Reference data is the champion's training data (its `kfp_ct.data_uri` lineage tag) unless given.
Every decision is an MLflow run in the `kfp-ct-drift` experiment tagged with the window's hash,
so the de-duplication and cooldown guards see earlier windows even when compare rejected the
model trained on them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from kfp_ct import lineage, settings
from kfp_ct.core.tasks import infer_task, is_classification
from kfp_ct.data.hashing import frame_hash
from kfp_ct.data.io import read_table
from kfp_ct.data.split import SPLIT_COLUMN, mark_sides, split_frame
from kfp_ct.drift.config import DriftConfig
from kfp_ct.errors import DataError
from kfp_ct.params import json_object
from kfp_ct.tracking import history, models

log = logging.getLogger(__name__)
DRIFT_EXPERIMENT = "kfp-ct-drift"
RETRAIN, SKIP = "retrain", "skip"


@dataclass(frozen=True, kw_only=True)
class DriftCheckParams:
    """The window to check, what to check it against, and how to build the training set."""

    window_uri: str
    reference_uri: str = ""  # empty: the champion's training data (lineage)
    label: str = "label"
    model_name: str = settings.DEFAULT_MODEL_NAME
    drift_config: DriftConfig = field(default_factory=DriftConfig)
    training_policy: str = "all"  # all (reference + window), sliding (newest rows) or new (window)
    max_training_rows: int = 0  # 0: no cap
    cooldown_hours: float = 0.0
    primary_metric: str = "auto"
    test_size: float = 0.2
    seed: int = 42
    pipeline_run_id: str = ""

    @classmethod
    def from_kfp(cls, *, drift_config: str, **fields: Any) -> DriftCheckParams:
        """Build from the component's parameters (`drift_config` as JSON text)."""
        return cls(drift_config=DriftConfig.from_dict(json_object(drift_config, "drift_config")), **fields)


@dataclass(frozen=True, kw_only=True)
class DriftCheckPaths:
    """Files drift_check writes: the training set (parquet), the HTML and Markdown reports."""

    training_set: Path
    drift_report: Path
    report: Path


@dataclass
class DriftCheckOutput:
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
    """The champion's recorded primary metric alone (one decay test), with its row count.

    `n_rows`, the held-out rows behind the recorded value, lets the decay test count that
    value's sampling error as well as the window's.
    """
    from kfp_ct.core.metrics import default_primary

    if not recorded or label not in reference.columns:
        return {}
    name = primary if primary not in ("", "auto") else default_primary(infer_task(reference[label]))
    if name not in recorded:
        return {}
    out = {name: recorded[name]}
    if "n_rows" in recorded:
        out["n_rows"] = recorded["n_rows"]
    return out


def run(params: DriftCheckParams, paths: DriftCheckPaths) -> DriftCheckOutput:
    """Check the window for drift against the reference; write the training set when retraining."""
    from kfp_ct.drift import build_training_set, check_guards, detect_drift, render_evidently_html

    label, seed = params.label, params.seed
    window = read_table(params.window_uri)
    window_hash = frame_hash(window)
    champion_ref, champion = models.load_champion(params.model_name)
    champion_metrics = models.recorded_metrics(champion_ref) if champion_ref else {}
    reference_uri = params.reference_uri or (
        champion_ref.tags.get(lineage.DATA_URI, "") if champion_ref else ""
    )
    earlier = history.earlier_trainings(params.model_name, DRIFT_EXPERIMENT, RETRAIN)
    guards = check_guards(earlier, window_hash, cooldown_hours=params.cooldown_hours)
    if not reference_uri:
        reference = None
        decision = SKIP if guards.skip else RETRAIN
        reasons = ["no champion and no reference data: training a first model on the window"]
        reasons += [f"guard: {r}" for r in guards.reasons]
        summary = {"decision": decision, "share": 0.0, "drifted_features": []}
        Path(paths.report).write_text("# Drift check\n\n" + "\n".join(f"- {r}" for r in reasons))
        Path(paths.drift_report).write_text(
            "<html><body><p>No reference data: first model.</p></body></html>"
        )
    else:
        reference, held_out = reference_with_holdout(read_table(reference_uri), label, params.test_size, seed)
        if label in reference.columns and label not in window.columns:
            log.info("window has no label '%s': performance decay is not checked", label)
        report = detect_drift(
            reference,
            window,
            label=label if label in reference.columns else None,
            champion=champion,
            champion_metrics=primary_only(champion_metrics, params.primary_metric, reference, label),
            config=params.drift_config,
            prediction_reference=held_out,
        ).with_guards(guards)
        decision, reasons = report.decision, report.reasons
        summary = {
            "decision": decision,
            "share": round(report.share_drifted, 4),
            "drifted_features": report.drifted_features,
        }
        Path(paths.report).write_text(report.to_markdown())
        columns = report.drifted_features + [f.feature for f in report.features if not f.drifted]
        render_evidently_html(reference, window, paths.drift_report, columns=columns, seed=seed)
    rows = 0
    if decision == RETRAIN:
        if label not in window.columns:
            raise DataError(f"{params.window_uri}: label column '{label}' missing; retraining needs labels")
        # Hold out new rows only: neither the champion nor the challenger has seen them.
        stratify = is_classification(infer_task(window[label]))
        window_train, window_test = split_frame(window, label, params.test_size, seed, stratify)
        past = reference if reference is not None else window.iloc[0:0]
        train = build_training_set(
            past,
            window_train,
            policy=params.training_policy,
            max_rows=params.max_training_rows or None,
            seed=seed,
        )
        training = mark_sides(train, window_test[list(train.columns)])
        training.to_parquet(paths.training_set, index=False)
        rows = len(training)
    else:
        pd.DataFrame().to_parquet(paths.training_set)
    outcome = DriftCheckOutput(decision, reasons, window_hash, rows, summary)
    history.record_drift_decision(
        DRIFT_EXPERIMENT,
        {
            lineage.DECISION: outcome.decision,
            lineage.DECISION_REASONS: " | ".join(outcome.reasons)[:4000],
            lineage.WINDOW_HASH: outcome.window_hash,
            lineage.DATA_URI: params.window_uri,
            lineage.PIPELINE_RUN_ID: params.pipeline_run_id,
            lineage.MODEL_NAME: params.model_name,
        },
        {"drift_share": outcome.summary["share"], "training_rows": outcome.training_rows},
        outcome.summary,
        paths.drift_report,
    )
    log.info("drift decision: %s (%s)", decision, "; ".join(reasons))
    return outcome
