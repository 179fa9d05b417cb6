"""Retry calls to remote services (MLflow, Kubernetes) with exponential backoff."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from kfp_ct.errors import ServiceUnavailable

T = TypeVar("T")
log = logging.getLogger(__name__)


def _transient(exc: Exception) -> bool:
    from mlflow.exceptions import MlflowException

    if isinstance(exc, ConnectionError | TimeoutError | OSError):
        return True
    if isinstance(exc, MlflowException):
        code = getattr(exc, "error_code", "")
        return code in ("TEMPORARILY_UNAVAILABLE", "INTERNAL_ERROR", "REQUEST_LIMIT_EXCEEDED") or (
            "Max retries exceeded" in str(exc) or "Connection" in str(exc)
        )
    return False


def retry_call(
    fn: Callable[[], T],
    what: str,
    attempts: int = 4,
    base_delay_s: float = 0.5,
    transient: Callable[[Exception], bool] = _transient,
) -> T:
    """Call `fn`; on transient errors wait 0.5, 1, 2 ... s and try again, then raise."""
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if not transient(exc):
                raise
            if attempt == attempts:
                raise ServiceUnavailable(
                    f"{what} failed {attempts} times, last error: {type(exc).__name__}: "
                    f"{str(exc)[:300]}; check that the service is reachable (MLFLOW_TRACKING_URI)"
                ) from exc
            delay = base_delay_s * 2 ** (attempt - 1)
            log.warning("%s failed (%s), retry %d/%d in %.1f s", what, exc, attempt, attempts - 1, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")
