"""Component `notify` as the exit task of a small pipeline through kfp.local: the state KFP hands
it (SUCCEEDED, FAILED), the MLflow records it finds by pipeline run id, and the webhook post."""

import json

import pytest
from kfp import dsl, local

from kfp_ct import lineage
from kfp_ct.components import notify
from tests.webhook import webhook

pytestmark = pytest.mark.slow
RUN_ID = "continuous-training-component-test"


@dsl.component
def body(fail: bool) -> str:
    if fail:
        raise RuntimeError("the body failed")
    return "done"


def _pipeline(url: str, fail: bool, root):
    @dsl.pipeline(name="notify-alone")
    def notified():
        exit_task = notify(
            notify_url=url, notify_format="json", pipeline="continuous-training", model_name="m",
            pipeline_run_id=RUN_ID, pipeline_job_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        ).set_caching_options(False)  # fmt: skip
        with dsl.ExitHandler(exit_task):
            body(fail=fail).set_caching_options(False)

    root.mkdir(parents=True)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root), raise_on_error=False)
    notified()
    [run_dir] = [p for p in root.iterdir() if p.is_dir()]
    return json.loads((run_dir / "notify" / "executor_output.json").read_text())


@pytest.fixture(scope="module")
def posted(home):
    import mlflow

    from kfp_ct import settings

    mlflow.set_tracking_uri(settings.tracking_uri())
    mlflow.set_experiment(settings.DEFAULT_EXPERIMENT)
    with mlflow.start_run(tags={lineage.PIPELINE_RUN_ID: RUN_ID}):
        mlflow.log_metric("test_accuracy", 0.875)
    with webhook() as hook:
        outputs = {fail: _pipeline(hook.url, fail, home / f"root-{fail}") for fail in (False, True)}
    return outputs, hook.bodies


def test_the_exit_task_reports_a_succeeded_body_with_mlflows_records(posted):
    outputs, bodies = posted
    assert outputs[False]["parameterValues"]["Output"] is True
    body = bodies[0]
    assert (body["status"], body["decision"], body["metrics"]) == ("succeeded", "reject", {"accuracy": 0.875})
    assert body["run_id"] == RUN_ID and body["error"] == ""


def test_the_exit_task_reports_a_failed_body_and_succeeds_itself(posted):
    outputs, bodies = posted
    assert outputs[True]["parameterValues"]["Output"] is True
    assert len(bodies) == 2
    assert (bodies[1]["status"], bodies[1]["decision"]) == ("failed", "unknown")
    assert bodies[1]["error"] == "Task exit-handler-1 failed."  # all kfp.local 2.17 tells an exit task
