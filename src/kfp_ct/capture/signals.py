"""Live signals of served traffic, from captured rows: pure pandas, shared by monitor and deploy."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from kfp_ct.capture import store


def request_stats(frame: pd.DataFrame) -> dict[str, Any]:
    """Requests, error rate, refused (4xx) requests and latency p50/p99 (ms) of answered ones."""
    requests = frame.drop_duplicates(store.REQUEST_ID)
    answered = requests[requests[store.STATUS] == 200]
    latency = answered[store.LATENCY_MS].to_numpy(dtype=float)
    return {
        "count": len(requests),
        "errors": int((requests[store.STATUS] != 200).sum()),
        "error_rate": round(float((requests[store.STATUS] != 200).mean()), 6) if len(requests) else 0.0,
        "refused": int(requests[store.STATUS].between(400, 499).sum()),
        "latency_p50_ms": round(float(np.percentile(latency, 50)), 3) if len(latency) else None,
        "latency_p99_ms": round(float(np.percentile(latency, 99)), 3) if len(latency) else None,
    }


def traffic(frame: pd.DataFrame) -> pd.DataFrame:
    """Captured rows that are client traffic: deploy smoke tests left out."""
    if frame.empty:
        return frame
    return frame[~frame[store.REQUEST_ID].astype(str).str.startswith(store.SMOKE_ID_PREFIX)]


def by_version(frame: pd.DataFrame, version: str, role: str | None = None) -> pd.DataFrame:
    """Rows of one version, answered (role None) or shadow copies (role `store.SHADOW_ROLE`)."""
    if frame.empty:
        return frame
    shadow = store.is_shadow(frame).to_numpy()
    mine = (frame[store.VERSION].astype(str) == str(version)).to_numpy()
    return frame[mine & (shadow if role == store.SHADOW_ROLE else ~shadow)]
