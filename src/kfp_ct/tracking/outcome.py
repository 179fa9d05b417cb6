"""What one pipeline run left in MLflow, found by its pipeline run id (for the run notification)."""

from __future__ import annotations

from dataclasses import dataclass, field

from kfp_ct import lineage
from kfp_ct.tracking.retry import retry_call
from kfp_ct.tracking.runs import connect


@dataclass(frozen=True)
class RunRecord:
    """One MLflow run tagged with the pipeline run id."""

    run_id: str
    experiment: str
    tags: dict[str, str]
    metrics: dict[str, float]


@dataclass(frozen=True)
class PipelineRecords:
    """The MLflow runs and model versions one pipeline run wrote."""

    runs: list[RunRecord] = field(default_factory=list)
    versions: list[dict[str, str]] = field(default_factory=list)  # version, run_id and its tags


def pipeline_records(pipeline_run_id: str, model_name: str) -> PipelineRecords:
    """Every run tagged `kfp_ct.pipeline_run_id = pipeline_run_id` and the versions made from them."""
    import mlflow

    connect()
    client = mlflow.MlflowClient()
    quoted = pipeline_run_id.replace("'", "\\'")
    found = retry_call(
        lambda: mlflow.search_runs(
            search_all_experiments=True,
            filter_string=f"tags.`{lineage.PIPELINE_RUN_ID}` = '{quoted}'",
            output_format="list",
            order_by=["attributes.start_time ASC"],
        ),
        what="MLflow search_runs",
    )
    names: dict[str, str] = {}
    records = []
    for run in found:
        eid = run.info.experiment_id
        if eid not in names:
            names[eid] = client.get_experiment(eid).name
        records.append(RunRecord(run.info.run_id, names[eid], dict(run.data.tags), dict(run.data.metrics)))
    versions = []
    for record in records:
        filter_string = f"name = '{model_name}' and run_id = '{record.run_id}'"
        for v in retry_call(lambda f=filter_string: client.search_model_versions(f), what="MLflow versions"):
            versions.append({"version": str(v.version), "run_id": record.run_id, **dict(v.tags)})
    return PipelineRecords(records, versions)
