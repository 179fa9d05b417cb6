"""Component `drift_check`: decide retrain/skip on a new data window; build the training set."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import HTML, Dataset, Markdown, Metrics, Output

from kfp_ct.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def drift_check(
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
    training_set: Output[Dataset],
    drift_report: Output[HTML],
    report: Output[Markdown],
    metrics: Output[Metrics],
) -> NamedTuple(
    "DriftOutputs",
    [("Output", str), ("training_data_uri", str), ("lineage_tags", str), ("summary", str)],
):
    """Check a new data window for drift against the champion's training data.

    Args:
        window_uri: Path or URI of the new data window (CSV/Parquet).
        reference_uri: Reference data; empty uses the champion's training data (lineage).
        label: Name of the target column.
        model_name: Registered model whose champion is checked.
        drift_config: JSON drift thresholds and tests (see kfp_ct.drift.DriftConfig).
        training_policy: all (reference + window), sliding (newest rows) or new (window only).
        max_training_rows: Cap on the training set size; 0 means no cap.
        cooldown_hours: No retrain within this many hours of the last one.
        primary_metric: Metric whose decay on a labelled window triggers retraining (auto by task).
        test_size: Share of the new window held out to compare challenger and champion.
        seed: Random seed for samples.
        pipeline_run_id: Lineage: the pipeline run.
    """
    import json
    from collections import namedtuple
    from pathlib import Path

    from kfp_ct.logs import step_context
    from kfp_ct.steps.drift_check import DriftCheckParams, DriftCheckPaths, run

    with step_context("drift_check"):
        params = DriftCheckParams.from_kfp(
            window_uri=window_uri,
            reference_uri=reference_uri,
            label=label,
            model_name=model_name,
            drift_config=drift_config,
            training_policy=training_policy,
            max_training_rows=max_training_rows,
            cooldown_hours=cooldown_hours,
            primary_metric=primary_metric,
            test_size=test_size,
            seed=seed,
            pipeline_run_id=pipeline_run_id,
        )
        paths = DriftCheckPaths(
            training_set=Path(training_set.path),
            drift_report=Path(drift_report.path),
            report=Path(report.path),
        )
        out = run(params, paths)
        metrics.log_metric("drift_share", out.summary["share"])
        metrics.log_metric("drifted_features", len(out.summary["drifted_features"]))
        metrics.log_metric("training_rows", out.training_rows)
        training_set.metadata.update({"format": "parquet", "window_hash": out.window_hash})
    # `Output` is the decision: kfp.local evaluates dsl.If only on outputs named Output.
    return namedtuple("DriftOutputs", ["Output", "training_data_uri", "lineage_tags", "summary"])(
        out.decision, training_set.uri, json.dumps(out.lineage_tags()), json.dumps(out.summary)
    )
