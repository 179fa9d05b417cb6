"""Step `validate`: check the data against its schema and rules, split it, write a report.

The schema is a kfp-ct schema JSON or a pandera `DataFrameSchema` (YAML or JSON), given by
`schema_uri`, else the champion's, else inferred. The model's own schema is also written in
pandera's format (`pandera_schema`), so users can take it, edit it and give it back.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kfp_ct import lineage, settings
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

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class ValidateParams:
    """What to validate and how to split it."""

    data_uri: str
    label: str = "label"
    task: str = "auto"  # binary, multiclass, regression or auto
    schema_uri: str = ""  # empty: the champion's schema, else one inferred from the data
    model_name: str = settings.DEFAULT_MODEL_NAME
    validation_config: ValidationConfig = field(default_factory=ValidationConfig)
    test_size: float = 0.2
    seed: int = 42

    @classmethod
    def from_kfp(cls, *, validation_config: str, **fields: Any) -> ValidateParams:
        """Build from the component's parameters (`validation_config` as JSON text)."""
        return cls(validation_config=ValidationConfig.from_json(validation_config), **fields)


@dataclass(frozen=True, kw_only=True)
class ValidatePaths:
    """Files validate writes."""

    train_set: Path
    test_set: Path
    schema: Path
    report: Path
    validation: Path | None = None  # JSON: every violation, the statistics, the schema's source
    pandera_schema: Path | None = None  # the model's schema as a pandera DataFrameSchema YAML


@dataclass
class ValidateOutput:
    """What validate produced."""

    result: ValidationResult
    schema: Schema
    data_hash: str
    schema_source: str
    rows: int


def reference_schema(schema_uri: str, model_name: str, label: str = "label") -> tuple[Schema | None, str]:
    """The schema to validate against: a file (kfp-ct or pandera), else the champion's, else none."""
    if schema_uri:
        return Schema.load(schema_uri, label), schema_uri
    champion = registry.by_alias(model_name, lineage.CHAMPION) if model_name else None
    if champion is not None and champion.run_id:
        try:
            return runs.load_schema(champion.run_id), f"champion {model_name} v{champion.version}"
        except Exception as exc:  # an old champion without a logged schema: infer instead
            log.warning("champion v%s has no usable schema (%s); inferring", champion.version, exc)
    return None, "inferred from this data"


def run(params: ValidateParams, paths: ValidatePaths) -> ValidateOutput:
    """Validate `data_uri`, split it, and write train/test parquet, the schema and a report.

    Raises ValidationFailed (after writing the report) when any error-level rule is broken.
    """
    from kfp_ct.data.split import split_by_column, split_frame

    data_uri, label, config = params.data_uri, params.label, params.validation_config
    frame = read_table(data_uri)
    sides = frame.pop(SPLIT_COLUMN) if SPLIT_COLUMN in frame.columns else None
    reference, source = reference_schema(params.schema_uri, params.model_name, label)
    if label not in frame.columns:
        result = validate_frame(frame, Schema(label, "auto"), config, data_uri)
        Path(paths.report).write_text(result.to_markdown())
        write_validation(paths, result, source)
        result.raise_for_errors()
    if reference is not None and reference.label != label:
        raise DataError(
            f"{data_uri}: label '{label}' is not the label '{reference.label}' of the schema from "
            f"{source}; use --label {reference.label}, or another model_name for a new target"
        )
    wanted = params.task if reference is None or reference.task == "auto" else reference.task
    resolved_task = infer_task(frame[label], wanted)
    if reference is not None and reference.task == "auto":  # a pandera schema names no task
        reference = replace(reference, task=resolved_task)
    schema = reference or infer_schema(frame, label, resolved_task)
    result = validate_frame(frame, schema, config, data_uri)
    if not result.errors:
        clean = coerce_to_schema(frame, schema)
        if sides is None:
            stratify = is_classification(schema.task)
            train, test = split_frame(clean, label, params.test_size, params.seed, stratify)
        else:  # the rows' sides were fixed upstream (retraining holds out new rows only)
            train, test = split_by_column(clean.assign(**{SPLIT_COLUMN: sides}))
        check_leakage(result, train, test, label, config)
    Path(paths.report).write_text(result.to_markdown() + f"\n\nSchema: {source}\n")
    write_validation(paths, result, source)
    result.raise_for_errors()
    train.to_parquet(paths.train_set, index=False)
    test.to_parquet(paths.test_set, index=False)
    # The model's own schema describes the data it is trained on (the reference only judged it).
    fresh = infer_schema(clean, label, schema.task, source=frame)  # dtypes as read: the signature's
    fresh.pandera = schema.pandera  # a user's pandera checks keep judging later data
    fresh.save(paths.schema)
    if paths.pandera_schema is not None:
        from kfp_ct.core.pandera_io import to_yaml

        Path(paths.pandera_schema).write_text(to_yaml(fresh, config.range_tolerance))
    return ValidateOutput(result, fresh, frame_hash(frame), source, len(frame))


def write_validation(paths: ValidatePaths, result: ValidationResult, source: str) -> None:
    """Write the `validation` JSON (every violation, the statistics, the schema's source)."""
    if paths.validation is not None:
        Path(paths.validation).write_text(json.dumps({**result.to_dict(), "schema_source": source}))
