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
    validation: Output[Artifact],
    pandera_schema: Output[Artifact],
) -> NamedTuple("ValidateOutputs", [("task", str), ("data_hash", str), ("rows", int)]):
    """Validate a CSV/Parquet dataset and split it into train and test.

    Args:
        data_uri: Path or URI of the CSV/Parquet data.
        label: Name of the target column.
        task: binary, multiclass, regression or auto.
        schema_uri: Schema (kfp-ct JSON or pandera YAML/JSON); empty: the champion's or one inferred.
        model_name: Registered model whose champion provides the reference schema.
        validation_config: JSON thresholds and rule severities (see kfp_ct.core.validate).
        test_size: Share of rows held out for evaluation and comparison.
        seed: Random seed of the split.
    """
    from collections import namedtuple
    from pathlib import Path

    from kfp_ct.logs import step_context
    from kfp_ct.steps.validate import ValidateParams, ValidatePaths, run

    with step_context("validate"):
        params = ValidateParams.from_kfp(
            data_uri=data_uri,
            label=label,
            task=task,
            schema_uri=schema_uri,
            model_name=model_name,
            validation_config=validation_config,
            test_size=test_size,
            seed=seed,
        )
        paths = ValidatePaths(
            train_set=Path(train_set.path),
            test_set=Path(test_set.path),
            schema=Path(schema.path),
            report=Path(report.path),
            validation=Path(validation.path),
            pandera_schema=Path(pandera_schema.path),
        )
        out = run(params, paths)
        for key, value in out.result.stats.items():
            metrics.log_metric(key, value)
        metrics.log_metric("warnings", len(out.result.warnings))
        train_set.metadata.update({"data_hash": out.data_hash, "format": "parquet"})
        schema.metadata["source"] = out.schema_source
        pandera_schema.metadata["format"] = "pandera DataFrameSchema YAML"
    return namedtuple("ValidateOutputs", ["task", "data_hash", "rows"])(
        out.schema.task, out.data_hash, out.rows
    )
