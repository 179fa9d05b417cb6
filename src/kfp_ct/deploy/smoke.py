"""Smoke test: a real V2 request with held-out rows, checked against offline predictions."""

from __future__ import annotations

import logging
import uuid

import numpy as np

from kfp_ct.capture.store import SMOKE_ID_PREFIX
from kfp_ct.deploy.base import SmokeTest
from kfp_ct.errors import DeployError, ServingError
from kfp_ct.serving.client import infer_v2

log = logging.getLogger(__name__)


def run_smoke_test(base_url: str, model_name: str, smoke: SmokeTest, version: str | None = None) -> float:
    """Send the smoke rows; check shape, dtype and agreement. Return the agreement share.

    `version` sends them to that loaded version only (before it takes any traffic). The request
    id starts with `SMOKE_ID_PREFIX`, so that monitoring leaves it out of the served traffic.
    """
    try:
        rid = f"{SMOKE_ID_PREFIX}{uuid.uuid4()}"
        result = infer_v2(base_url, model_name, smoke.features, version=version, request_id=rid)
    except ServingError as exc:
        raise DeployError(f"smoke test request failed: {exc}") from exc
    if version is not None and result.model_version != str(version):
        raise DeployError(f"smoke test: v{result.model_version} answered, not v{version}")
    served, expected = result.predictions, list(smoke.expected)
    if len(served) != len(expected):
        raise DeployError(f"smoke test: server returned {len(served)} predictions for {len(expected)} rows")
    numeric_expected = all(isinstance(v, int | float | np.number) for v in expected)
    if numeric_expected and result.datatype == "BYTES":
        raise DeployError("smoke test: server returned strings where numbers were expected")
    if numeric_expected and not all(isinstance(v, int | float) for v in served):
        raise DeployError(f"smoke test: non-numeric predictions {served[:3]}")
    if numeric_expected and any(isinstance(v, float) for v in expected):
        agree = np.isclose(served, expected, rtol=smoke.rtol, atol=smoke.rtol)
    else:
        agree = np.array([str(a) == str(b) for a, b in zip(served, expected, strict=True)])
    share = float(agree.mean()) if len(agree) else 1.0
    if share < smoke.min_agreement:
        raise DeployError(
            f"smoke test: served predictions agree with offline ones on {share:.1%} of "
            f"{len(agree)} rows (need {smoke.min_agreement:.0%})"
        )
    log.info("smoke test passed: %d rows, agreement %.1f%%", len(agree), 100 * share)
    return share
