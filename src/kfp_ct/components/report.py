"""Component `report`: the run report as one self-contained HTML page (the pipeline's `HTML` output)."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Input, Output

from kfp_ct.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def report(
    validation: Input[Artifact],
    evaluation: Input[Artifact],
    decision_record: Input[Artifact],
    model_name: str,
    pipeline_run_id: str,
    mlflow_run_id: str,
    data_uri: str,
    data_hash: str,
    drift_summary: str,
    report: Output[HTML],
):
    """Write the run report: validation, metrics with intervals, plots, decision, drift, lineage.

    Args:
        model_name: Registered model the run trains.
        pipeline_run_id: Lineage: the pipeline run.
        mlflow_run_id: Lineage: the MLflow training run.
        data_uri: Lineage: where the data came from.
        data_hash: Lineage: content hash of the input data.
        drift_summary: JSON drift summary of a retraining run ({} for none).
    """
    from pathlib import Path

    from kfp_ct.logs import step_context
    from kfp_ct.steps.report import ReportParams, ReportPaths, run

    with step_context("report"):
        params = ReportParams.from_kfp(
            model_name=model_name,
            pipeline_run_id=pipeline_run_id,
            mlflow_run_id=mlflow_run_id,
            data_uri=data_uri,
            data_hash=data_hash,
            drift_summary=drift_summary,
        )
        paths = ReportPaths(
            report=Path(report.path),
            validation=Path(validation.path),
            evaluation=Path(evaluation.path),
            decision_record=Path(decision_record.path),
        )
        out = run(params, paths)
        report.metadata.update({"size_bytes": out.size_bytes, "sections": out.sections})
