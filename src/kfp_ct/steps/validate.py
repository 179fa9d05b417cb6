"""Step `validate`: check the data against its schema and rules, split it, write a report."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kfp_ct import lineage
from kfp_ct.core.schema import Schema, infer_schema
from kfp_ct.core.tasks import infer_task, is_classification
from kfp_ct.core.validate import (
    ValidationConfig,
    ValidationResult,
    check_leakage,
    coerce_to_schema,
    validate_frame,
)
from kfp_ct.data.hashing import frame_hash
from kfp_ct.data.io import read_table
from kfp_ct.data.split import SPLIT_COLUMN
from kfp_ct.errors import DataError
from kfp_ct.tracking import registry, runs

if TYPE_CHECKING:  # scikit-learn-heavy modules load only in the steps that use them
    pass

log = logging.getLogger(__name__)


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
            return runs.load_schema(champion.run_id), f"champion {model_name} v{champion.version}"
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
