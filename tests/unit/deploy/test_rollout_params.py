"""The deploy step's rollout parameters, as the component passes them, become one RolloutPlan."""

from __future__ import annotations

import pytest

from kfp_ct.deploy.base import RolloutPlan
from kfp_ct.errors import ParameterError
from kfp_ct.steps.deploy import DeployParams

BASE = {"model_name": "m", "model_version": "2", "target": "local", "readiness_timeout_s": 5.0,
        "kserve_options": "{}"}  # fmt: skip


def test_component_values_and_thresholds_make_the_plan():
    params = DeployParams.from_kfp(
        **BASE, rollout="canary", canary_percent=20, bake_seconds=60.0, min_canary_requests=300,
        on_insufficient="extend", promote_after_shadow=False,
        rollout_thresholds='{"max_latency_p99_ms": 50, "max_disagreement": 0.01}',
    )  # fmt: skip
    assert params.rollout == RolloutPlan(
        strategy="canary", canary_percent=20, bake_seconds=60.0, min_canary_requests=300,
        on_insufficient="extend", max_latency_p99_ms=50, max_disagreement=0.01,
    )  # fmt: skip


def test_direct_is_the_default():
    assert DeployParams.from_kfp(**BASE).rollout == RolloutPlan()
    assert RolloutPlan().strategy == "direct"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"rollout": "blue-green"}, "rollout='blue-green': choose one of direct, canary, shadow"),
        ({"rollout": "canary", "canary_percent": 100}, "canary_percent=100: must be between 1 and 99"),
        ({"on_insufficient": "wait"}, "on_insufficient='wait'"),
        ({"rollout_thresholds": '{"max_p99": 5}'}, "rollout_thresholds: unknown keys ['max_p99']"),
        ({"rollout_thresholds": '{"strategy": "canary"}'}, "unknown keys ['strategy']"),
        ({"rollout_thresholds": "[1]"}, "rollout_thresholds"),
    ],
)
def test_bad_rollout_parameters_are_one_line_errors(extra, message):
    with pytest.raises(ParameterError) as exc:
        DeployParams.from_kfp(**BASE, **extra)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_kfp_ct_run_refuses_a_bad_rollout_before_anything_runs(tmp_path):
    from tests.e2e_local.helpers import kfp_ct

    home = tmp_path / "home"
    env = {"KFP_CT_HOME": str(home), "MLFLOW_TRACKING_URI": ""}
    result = kfp_ct("run", "--param", "rollout=canry", env=env)
    lines = result.stderr.strip().splitlines()
    assert result.code == 2 and len(lines) == 1 and "rollout='canry'" in lines[0], result.stderr
    assert not (home / "runs").exists() and not (home / "mlflow.db").exists()  # nothing ran or was written
