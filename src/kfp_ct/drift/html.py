"""Evidently HTML drift report, sampled and size-capped so the Kubeflow UI can open it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from kfp_ct.errors import DataError

log = logging.getLogger(__name__)

MAX_HTML_BYTES = 5_000_000


def _sample(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    out = frame if len(frame) <= n else frame.sample(n=n, random_state=seed)
    return out.reset_index(drop=True)


def render_evidently_html(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    path: str | Path,
    *,
    columns: Sequence[str] | None = None,
    max_rows: int = 5000,
    seed: int = 0,
    max_bytes: int = MAX_HTML_BYTES,
) -> Path:
    """Render Evidently's ``DataDriftPreset`` on seeded samples and save it as one HTML file.

    The file carries Evidently's UI bundle (about 3.8 MB) plus about 40 kB per column; its size
    does not grow with the rows, which are sampled to ``max_rows`` per side. When the file still
    exceeds ``max_bytes``, columns are dropped from the end of ``columns`` (pass drifted ones
    first) until it fits. The retrain decision does not come from this report.

    Args:
        reference: reference data.
        current: current window.
        path: output ``.html`` path (parent folders are created).
        columns: columns to show, most important first; default: common columns.
        max_rows: rows sampled from each side.
        seed: random seed of the samples.
        max_bytes: size cap of the file.

    Returns:
        The path written.

    Raises:
        DataError: no common column, or the report exceeds ``max_bytes`` even with one column.
    """
    from evidently import Report  # lazy: the import takes about 3 s
    from evidently.presets import DataDriftPreset

    names = list(columns) if columns is not None else [c for c in reference.columns if c in current.columns]
    missing = [c for c in names if c not in reference.columns or c not in current.columns]
    if missing:
        raise DataError(f"column(s) {missing} are missing from the reference or current data")
    if not names:
        raise DataError("reference and current data share no column to report on")
    ref = _sample(reference[names], max_rows, seed)
    cur = _sample(current[names], max_rows, seed)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    keep = names
    while True:
        snapshot = Report([DataDriftPreset()]).run(cur[keep], ref[keep])
        snapshot.save_html(str(out))
        size = out.stat().st_size
        if size <= max_bytes:
            return out
        if len(keep) == 1:
            raise DataError(
                f"{out} is {size} bytes with one column, over the {max_bytes}-byte cap: raise max_bytes"
            )
        keep = keep[: max(1, len(keep) // 2)]
        log.warning("%s is %d bytes > %d: retrying with %d columns", out, size, max_bytes, len(keep))
