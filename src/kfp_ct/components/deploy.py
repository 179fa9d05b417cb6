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
) -> NamedTuple("DeployOutputs", [("endpoint", str), ("champion_version", str)]):
    """Deploy to `none`, `local` or `kserve`; roll back and fail on any error.

    Args:
        model_name: Registered model name.
        model_version: Version to deploy.
        decision_record: Compare's record; names the champion the decision was made against.
        target: none, local or kserve.
        readiness_timeout_s: How long to wait for the server to become ready.
        kserve_options: JSON options of the kserve target (namespace, mode, runtime, canary...).
    """
    import json
    from collections import namedtuple
    from pathlib import Path

    import pandas as pd

    from kfp_ct.deploy.targets import make_target
    from kfp_ct.logs import step_context
    from kfp_ct.steps.compare import CompareOutput
    from kfp_ct.steps.deploy import deploy_version, smoke_from_frame
    from kfp_ct.tracking.models import load_model

    with step_context("deploy"):
        options = json.loads(kserve_options or "{}") if target == "kserve" else {}
        offline = load_model(Path(model.path))
        features = list(offline.feature_names_in_)
        held_out = pd.read_parquet(test_set.path)
        smoke = smoke_from_frame(offline, held_out, features) if target != "none" else None
        out = deploy_version(
            make_target(target, **options), model_name, model_version, smoke,
            CompareOutput.read_champion(Path(decision_record.path)), readiness_timeout_s,
        )  # fmt: skip
    return namedtuple("DeployOutputs", ["endpoint", "champion_version"])(out.endpoint, out.champion_version)
