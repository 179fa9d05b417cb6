"""The six pipeline steps as plain functions over paths and values.

Each KFP component in `components/` is a thin shim: it turns artifacts into paths, calls one of
these, and writes the returned numbers to KFP outputs. Call them from tests or notebooks as-is.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from kfp_ct import lineage, registry, tracking
from kfp_ct.data.hashing import frame_hash
from kfp_ct.data.io import read_table
from kfp_ct.data.split import SPLIT_COLUMN
from kfp_ct.errors import DataError
from kfp_ct.params import json_object
from kfp_ct.schema import Schema, infer_schema
from kfp_ct.tasks import infer_task, is_classification
from kfp_ct.validate import (
    ValidationConfig,
    ValidationResult,
    check_leakage,
    coerce_to_schema,
    validate_frame,
)

if TYPE_CHECKING:  # scikit-learn-heavy modules load only in the steps that use them
    from kfp_ct.compare import ComparePolicy, Decision
    from kfp_ct.evaluate import Evaluation

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- validate
@dataclass
class ValidateOutput:
    """What validate produced."""

    result: ValidationResult
    schema: Schema
    data_hash: str
    schema_source: str
    rows: int


def reference_schema(schema_uri: str, model_name: str) -> tuple[Schema | None, str]:
    """The schema to validate against: a file, else the champion's, else none (infer)."""
    if schema_uri:
        return Schema.load(schema_uri), schema_uri
    champion = registry.by_alias(model_name, lineage.CHAMPION) if model_name else None
    if champion is not None and champion.run_id:
        try:
            return tracking.load_schema(champion.run_id), f"champion {model_name} v{champion.version}"
        except Exception as exc:  # an old champion without a logged schema: infer instead
            log.warning("champion v%s has no usable schema (%s); inferring", champion.version, exc)
    return None, "inferred from this data"


def validate_step(
    data_uri: str,
    label: str,
    task: str,
    schema_uri: str,
    model_name: str,
    config_json: str,
    test_size: float,
    seed: int,
    train_path: Path,
    test_path: Path,
    schema_path: Path,
    report_path: Path,
) -> ValidateOutput:
    """Validate `data_uri`, split it, and write train/test parquet, the schema and a report.

    Raises ValidationFailed (after writing the report) when any error-level rule is broken.
    """
    from kfp_ct.data.split import split_by_column, split_frame

    config = ValidationConfig.from_json(config_json)
    frame = read_table(data_uri)
    sides = frame.pop(SPLIT_COLUMN) if SPLIT_COLUMN in frame.columns else None
    reference, source = reference_schema(schema_uri, model_name)
    if label not in frame.columns:
        result = validate_frame(frame, Schema(label, "auto"), config, data_uri)
        Path(report_path).write_text(result.to_markdown())
        result.raise_for_errors()
    if reference is not None and reference.label != label:
        raise DataError(
            f"{data_uri}: label '{label}' is not the label '{reference.label}' of the schema from "
            f"{source}; use --label {reference.label}, or another model_name for a new target"
        )
    resolved_task = infer_task(frame[label], task if reference is None else reference.task)
    schema = reference or infer_schema(frame, label, resolved_task)
    result = validate_frame(frame, schema, config, data_uri)
    if not result.errors:
        clean = coerce_to_schema(frame, schema)
        if sides is None:
            train, test = split_frame(clean, label, test_size, seed, is_classification(schema.task))
        else:  # the rows' sides were fixed upstream (retraining holds out new rows only)
            train, test = split_by_column(clean.assign(**{SPLIT_COLUMN: sides}))
        check_leakage(result, train, test, label, config)
    Path(report_path).write_text(result.to_markdown() + f"\n\nSchema: {source}\n")
    result.raise_for_errors()
    train.to_parquet(train_path, index=False)
    test.to_parquet(test_path, index=False)
    # The model's own schema describes the data it is trained on (the reference only judged it).
    fresh = infer_schema(clean, label, schema.task)
    fresh.save(schema_path)
    return ValidateOutput(result, fresh, frame_hash(frame), source, len(frame))


# ---------------------------------------------------------------- train
@dataclass
class TrainOutput:
    """What train produced."""

    run_id: str
    model_uri: str
    train_metrics: dict[str, float]
    fit_seconds: float


def train_step(
    train_path: Path,
    schema_path: Path,
    estimator: str,
    hyperparameters: str,
    seed: int,
    model_dir: Path,
    lineage_tags: dict[str, str],
) -> TrainOutput:
    """Fit the pipeline, save it to `model_dir` (MLflow format) and log the run to MLflow."""
    import mlflow.sklearn
    from mlflow.models import infer_signature

    from kfp_ct import metrics
    from kfp_ct.estimators import SKOPS_TRUSTED_TYPES, parse_params
    from kfp_ct.train import train_model

    schema = Schema.load(schema_path)
    train = pd.read_parquet(train_path)
    params = parse_params(hyperparameters)
    result = train_model(train, schema, estimator, params, seed)
    x = train[result.features]
    scored = metrics.score(result.model, x, train[schema.label])
    train_metrics = {f"train_{k}": v for k, v in metrics.compute_all(schema.task, scored).items()}
    train_metrics["fit_seconds"] = result.fit_seconds
    logged = tracking.log_training(
        result.model,
        x,
        scored.y_pred,
        schema,
        {"estimator": estimator, "seed": seed, "rows": len(train), **params},
        train_metrics,
        {**lineage_tags, lineage.TASK: schema.task, lineage.LABEL_COLUMN: schema.label,
         lineage.TRAINED_AT: datetime.now(UTC).isoformat(timespec="seconds")},
    )  # fmt: skip
    mlflow.sklearn.save_model(
        result.model,
        str(model_dir),
        signature=infer_signature(x, scored.y_pred),
        pip_requirements=tracking.pip_requirements(),
        serialization_format="skops",
        skops_trusted_types=SKOPS_TRUSTED_TYPES,
    )
    return TrainOutput(logged.run_id, logged.model_uri, train_metrics, result.fit_seconds)


def load_model(model_dir: Path):
    """Load a model saved by train_step."""
    import mlflow.sklearn

    return mlflow.sklearn.load_model(str(model_dir))


def _features(schema: Schema, frame: pd.DataFrame) -> list[str]:
    return [c.name for c in schema.features if c.name in frame.columns]


# ---------------------------------------------------------------- evaluate
def evaluate_step(model_dir: Path, test_path: Path, schema_path: Path, run_id: str) -> Evaluation:
    """Evaluate on the held-out split and add the metrics and report to the training run."""
    from kfp_ct.evaluate import evaluate_model

    schema = Schema.load(schema_path)
    test = pd.read_parquet(test_path)
    model = load_model(model_dir)
    model_features = list(getattr(model, "feature_names_in_", _features(schema, test)))
    evaluation = evaluate_model(model, test, model_features, schema.label, schema.task)
    logged = {f"test_{k}": v for k, v in evaluation.metrics.items()}
    logged |= {f"latency_{k}_ms": v for k, v in evaluation.latency_ms.items()}
    if run_id:
        tracking.log_to_run(run_id, logged, {"evaluation.md": evaluation.to_markdown()})
    return evaluation


# ---------------------------------------------------------------- compare
@dataclass
class CompareOutput:
    """The decision and the champion it was made against."""

    decision: Decision
    champion_version: str = ""

    def to_json(self) -> str:
        """The decision record passed to register and deploy."""
        return json.dumps({**self.decision.to_dict(), "champion_version": self.champion_version})

    @staticmethod
    def read(path: Path) -> dict:
        """Read a decision record."""
        return json.loads(Path(path).read_text())

    @staticmethod
    def read_champion(path: Path) -> str | None:
        """The champion version a decision record was made against (None: there was none)."""
        return CompareOutput.read(path).get("champion_version") or None


def compare_step(
    model_dir: Path, test_path: Path, schema_path: Path, model_name: str, policy: ComparePolicy
) -> CompareOutput:
    """Score challenger and champion on the same held-out rows and decide."""
    from kfp_ct import metrics
    from kfp_ct.compare import decide

    schema = Schema.load(schema_path)
    test = pd.read_parquet(test_path)
    challenger = load_model(model_dir)
    features = list(getattr(challenger, "feature_names_in_", _features(schema, test)))
    y = test[schema.label]
    chal_scored = metrics.score(challenger, test[features], y)
    champion_ref = registry.by_alias(model_name, lineage.CHAMPION)
    champ_scored, error = None, None
    if champion_ref is not None:
        try:
            with tempfile.TemporaryDirectory(prefix="kfp-ct-champion-") as scratch:
                champion = registry.download(champion_ref.name, champion_ref.version, Path(scratch))
                champ_model = load_model(champion)  # fully in memory: the files can go
            champ_features = list(getattr(champ_model, "feature_names_in_", features))
            missing = [c for c in champ_features if c not in test.columns]
            if missing:
                raise DataError(f"held-out rows lack the champion's columns {missing}")
            champ_scored = metrics.score(champ_model, test[champ_features], y)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
    version = champion_ref.version if champion_ref else None
    decision = decide(schema.task, chal_scored, champ_scored, policy, version, error)
    log.info("decision: %s (%s)", decision.decision, "; ".join(decision.reasons))
    return CompareOutput(decision, version or "")


# ---------------------------------------------------------------- register
def parse_tags(text: str) -> dict[str, str]:
    """Parse a JSON object of extra version tags (empty text: none)."""
    tags = json_object(text, "extra_tags")
    return {str(k): str(v) for k, v in tags.items()}


def register_step(
    model_name: str,
    model_uri: str,
    run_id: str,
    decision_path: Path,
    metrics_json: str,
    lineage_tags: dict[str, str],
    extra_tags: str = "",
) -> registry.VersionRef:
    """Register the logged model with lineage, metrics and decision tags; alias `challenger`."""
    import tempfile

    import mlflow.artifacts

    values = json.loads(metrics_json or "{}")
    record = CompareOutput.read(decision_path)
    tags = {
        **parse_tags(extra_tags),
        **lineage_tags,
        lineage.DECISION: record["decision"],
        lineage.DECISION_REASONS: "; ".join(record["reasons"])[:4000],
        **{f"{lineage.METRIC_TAG_PREFIX}{k}": f"{v:.6g}" for k, v in values.items()},
    }
    tracking.connect()
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(mlflow.artifacts.download_artifacts(model_uri, dst_path=tmp))
        return registry.register(model_name, model_uri, run_id, tags, model_dir)
