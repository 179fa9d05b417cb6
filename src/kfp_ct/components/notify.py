"""Component `notify`: the exit task of every pipeline; posts the run's outcome to a webhook."""

from kfp import dsl
from kfp.dsl import Artifact, Output

from kfp_ct.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def notify(
    status: dsl.PipelineTaskFinalStatus,
    notify_url: str,
    notify_format: str,
    pipeline: str,
    model_name: str,
    pipeline_run_id: str,
    pipeline_job_id: str,
    message: Output[Artifact],
) -> bool:
    """Report the run (status, decision, metrics, version, link, error); never fails the run.

    Args:
        notify_url: Webhook URL; empty: the Secret kfp-ct-notify's `url`, else nothing is sent.
        notify_format: slack ({"text", "blocks"}) or json (the generic body).
        pipeline: The pipeline's name.
        model_name: Registered model the run trains.
        pipeline_run_id: Lineage: the pipeline run (the tag the steps wrote in MLflow).
        pipeline_job_id: The KFP run id, for the UI link.
    """
    from pathlib import Path

    from kfp_ct.logs import step_context
    from kfp_ct.steps.notify import NotifyParams, NotifyPaths, run

    with step_context("notify"):
        params = NotifyParams.from_kfp(
            notify_url=notify_url,
            state=status.state,
            error_message=status.error_message,
            notify_format=notify_format,
            pipeline=pipeline,
            model_name=model_name,
            pipeline_run_id=pipeline_run_id,
            pipeline_job_id=pipeline_job_id,
        )
        out = run(params, NotifyPaths(message=Path(message.path)))
        message.metadata.update(
            {"sent": out.sent, "decision": out.outcome.decision, "status": out.outcome.status}
        )
    return out.sent
