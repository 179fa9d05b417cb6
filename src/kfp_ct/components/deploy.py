"""Component `deploy`: serve the new version, smoke test it, then move `champion`."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Model

from kfp_ct.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def deploy(
    model: Input[Model],
    test_set: Input[Dataset],
    model_name: str,
    model_version: str,
    decision_record: Input[Artifact],
    target: str,
    readiness_timeout_s: float,
    kserve_options: str,
    rollout: str = "direct",
    canary_percent: int = 10,
    bake_seconds: float = 300.0,
    min_canary_requests: int = 100,
    on_insufficient: str = "rollback",
    promote_after_shadow: bool = False,
    rollout_thresholds: str = "{}",
) -> NamedTuple("DeployOutputs", [("endpoint", str), ("champion_version", str), ("rollout", str)]):
    """Deploy to `none`, `local` or `kserve`; roll back and fail on any error.

    Args:
        model_name: Registered model name.
        model_version: Version to deploy.
        decision_record: Compare's record; names the champion the decision was made against.
        target: none, local or kserve.
        readiness_timeout_s: How long to wait for the server to become ready.
        kserve_options: JSON options of the kserve target (namespace, mode, runtime, canary...).
        rollout: direct, canary or shadow.
        canary_percent: Share of live requests (%) the canary answers during the bake.
        bake_seconds: Seconds a canary or shadow bakes before it is judged.
        min_canary_requests: Requests a canary must answer to be judged.
        on_insufficient: Too few canary requests: promote, rollback or extend.
        promote_after_shadow: Promote a shadow at the end of its bake if the evidence holds.
        rollout_thresholds: JSON of other RolloutPlan thresholds.
    """
    import json
    from collections import namedtuple
    from pathlib import Path

    from kfp_ct.logs import step_context
    from kfp_ct.steps.deploy import DeployParams, DeployPaths, run

    with step_context("deploy"):
        params = DeployParams.from_kfp(
            model_name=model_name,
            model_version=model_version,
            target=target,
            readiness_timeout_s=readiness_timeout_s,
            kserve_options=kserve_options,
            rollout=rollout,
            canary_percent=canary_percent,
            bake_seconds=bake_seconds,
            min_canary_requests=min_canary_requests,
            on_insufficient=on_insufficient,
            promote_after_shadow=promote_after_shadow,
            rollout_thresholds=rollout_thresholds,
        )
        paths = DeployPaths(
            model=Path(model.path),
            test_set=Path(test_set.path),
            decision_record=Path(decision_record.path),
        )
        out = run(params, paths)
    outputs = namedtuple("DeployOutputs", ["endpoint", "champion_version", "rollout"])
    return outputs(out.endpoint, out.champion_version, json.dumps(out.rollout, default=str))
