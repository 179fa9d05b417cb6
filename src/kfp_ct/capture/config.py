"""Capture settings, from the environment when asked (never at import).

- `KFP_CT_CAPTURE_URI`: a local directory or `s3://bucket/prefix` (default `$KFP_CT_HOME/capture`).
- `KFP_CT_CAPTURE`: `off` (or `0`, `false`) turns capture off; default on.
- `KFP_CT_CAPTURE_SAMPLE_RATE`: share of requests recorded, 0..1 (default 1.0).
- `KFP_CT_CAPTURE_BATCH`: records per Parquet file at most (default 1000).
- `KFP_CT_CAPTURE_FLUSH_S`: seconds a record waits for its batch at most (default 1.0).
- `KFP_CT_CAPTURE_QUEUE`: requests the queue holds before it drops (default 20000).
- `KFP_CT_SHADOW_OF`: set on a shadow's server (a cluster's `<isvc>-shadow`): its traffic is the
  champion's mirrored, so it is captured under that model name with role `shadow`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from kfp_ct import settings
from kfp_ct.errors import ParameterError

URI_ENV = "KFP_CT_CAPTURE_URI"
ENABLED_ENV = "KFP_CT_CAPTURE"
RATE_ENV = "KFP_CT_CAPTURE_SAMPLE_RATE"
BATCH_ENV = "KFP_CT_CAPTURE_BATCH"
FLUSH_ENV = "KFP_CT_CAPTURE_FLUSH_S"
QUEUE_ENV = "KFP_CT_CAPTURE_QUEUE"


def capture_uri() -> str:
    """Where captured traffic lives: the environment's URI, else `$KFP_CT_HOME/capture`."""
    return os.environ.get(URI_ENV) or str(settings.home() / "capture")


def _number(env: str, default: float, low: float, high: float) -> float:
    raw = os.environ.get(env)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ParameterError(f"{env}={raw!r} is not a number") from None
    if not low <= value <= high:
        raise ParameterError(f"{env}={raw!r} must be between {low:g} and {high:g}")
    return value


@dataclass(frozen=True)
class CaptureConfig:
    """How the model server records traffic."""

    uri: str
    enabled: bool = True
    sample_rate: float = 1.0
    batch_size: int = 1000
    flush_interval_s: float = 1.0
    queue_size: int = 20_000
    shadow_of: str | None = None  # capture under this model name, as shadow copies

    @classmethod
    def from_env(cls, uri: str | None = None, sample_rate: float | None = None) -> CaptureConfig:
        """The settings of this process; explicit arguments (server flags) win over the environment."""
        enabled = os.environ.get(ENABLED_ENV, "on").strip().lower() not in ("off", "0", "false", "no")
        rate = _number(RATE_ENV, 1.0, 0.0, 1.0) if sample_rate is None else sample_rate
        if not 0.0 <= rate <= 1.0:
            raise ParameterError(f"capture sample rate {rate} must be between 0 and 1")
        return cls(
            uri=uri or capture_uri(),
            enabled=enabled and rate > 0,
            sample_rate=rate,
            batch_size=int(_number(BATCH_ENV, 1000, 1, 1_000_000)),
            flush_interval_s=_number(FLUSH_ENV, 1.0, 0.01, 3600),
            queue_size=int(_number(QUEUE_ENV, 20_000, 1, 10_000_000)),
            shadow_of=os.environ.get(settings.SHADOW_OF_ENV) or None,
        )
