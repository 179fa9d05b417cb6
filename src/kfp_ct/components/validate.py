"""Component `validate`: check the data against a schema, split it, fail on errors."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Markdown, Metrics, Output

from kfp_ct.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def validate(
    data_uri: str,
    label: str,
    task: str,
    schema_uri: str,
    model_name: str,
    validation_config: str,
    test_size: float,
    seed: int,
    train_set: Output[Dataset],
    test_set: Output[Dataset],
    schema: Output[Artifact],
    report: Output[Markdown],
    metrics: Output[Metrics],
) -> NamedTuple("ValidateOutputs", [("task", str), ("data_hash", str), ("rows", int)]):
    """Validate a CSV/Parquet dataset and split it into train and test.

    Args:
        data_uri: Path or URI of the CSV/Parquet data.
        label: Name of the target column.
        task: binary, multiclass, regression or auto.
        schema_uri: Schema JSON to check against; empty uses the champion's or infers one.
        model_name: Registered model whose champion provides the reference schema.
        validation_config: JSON thresholds and rule severities (see kfp_ct.core.validate).
        test_size: Share of rows held out for evaluation and comparison.
        seed: Random seed of the split.
    """
    from collections import namedtuple
    from pathlib import Path

    from kfp_ct.logs import step_context
    from kfp_ct.steps.validate import validate_step

    with step_context("validate"):
        out = validate_step(
            data_uri, label, task, schema_uri, model_name, validation_config, test_size, seed,
            Path(train_set.path), Path(test_set.path), Path(schema.path), Path(report.path),
        )  # fmt: skip
        for key, value in out.result.stats.items():
            metrics.log_metric(key, value)
        metrics.log_metric("warnings", len(out.result.warnings))
        train_set.metadata.update({"data_hash": out.data_hash, "format": "parquet"})
        schema.metadata["source"] = out.schema_source
    return namedtuple("ValidateOutputs", ["task", "data_hash", "rows"])(
        out.schema.task, out.data_hash, out.rows
    )
