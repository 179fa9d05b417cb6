"""The capture store: Parquet partitions of served traffic and the labels sent for it.

Layout under a capture URI (a local directory or `s3://bucket/prefix`, through pyarrow's
filesystems):

    <uri>/<model>/date=YYYY-MM-DD/hour=HH/<uuid>.parquet   one row per scored row
    <uri>/<model>/feedback/<hash>.parquet                  request_id, label, received_at
    <uri>/<model>/windows/<name>.parquet                   labelled windows exported for retraining

A file is written under a temporary name and renamed (locally), so a reader never sees half of
one; a kill leaves at most a `.tmp` file behind, which readers ignore.
"""

from __future__ import annotations

import posixpath
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from kfp_ct.errors import DataError

# Columns every captured row has; every other column is a model input.
REQUEST_ID = "request_id"
ROW = "row"
TIME = "ts"
MODEL = "model_name"
VERSION = "model_version"
PROTOCOL = "protocol"
STATUS = "status"
LATENCY_MS = "latency_ms"
PREDICTION = "prediction"
PROBABILITIES = "probabilities"
CLASSES = "classes"
ERROR = "error"
ROLE = "role"  # "shadow" for a shadow version's copy of a request; null: the answer sent back
SHADOW_ROLE = "shadow"
META_COLUMNS = (REQUEST_ID, ROW, TIME, MODEL, VERSION, PROTOCOL, STATUS, LATENCY_MS, PREDICTION,
                PROBABILITIES, CLASSES, ERROR, ROLE)  # fmt: skip
LABEL = "label"
RECEIVED_AT = "received_at"
SMOKE_ID_PREFIX = "kfp-ct-smoke-"  # deploy smoke tests: captured, but not monitored as traffic
FEEDBACK_DIR = "feedback"
WINDOWS_DIR = "windows"


def filesystem(uri: str) -> tuple[Any, str]:
    """(pyarrow FileSystem, base path) of a capture URI; a local path is made absolute."""
    from pyarrow import fs

    if "://" not in uri:
        return fs.LocalFileSystem(), str(Path(uri).expanduser().resolve())
    try:
        return fs.FileSystem.from_uri(uri)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"capture URI {uri}: {exc}") from None


def _write(filesystem_: Any, path: str, table: pa.Table) -> None:
    from pyarrow import fs

    filesystem_.create_dir(posixpath.dirname(path), recursive=True)
    if isinstance(filesystem_, fs.LocalFileSystem):
        tmp = f"{path}.tmp"
        pq.write_table(table, tmp, filesystem=filesystem_)
        filesystem_.move(tmp, path)
    else:
        pq.write_table(table, path, filesystem=filesystem_)


def partition(when: datetime) -> str:
    """The partition of a moment: `date=YYYY-MM-DD/hour=HH` (UTC)."""
    when = when.astimezone(UTC)
    return f"date={when:%Y-%m-%d}/hour={when:%H}"


def write_rows(uri: str, model: str, frame: pd.DataFrame) -> list[str]:
    """Write captured rows (a DataFrame) of one model into their hourly partitions; the files written."""
    return write_table(uri, model, pa.Table.from_pandas(frame, preserve_index=False))


def write_table(uri: str, model: str, table: pa.Table) -> list[str]:
    """Write captured rows (an Arrow table with a UTC `ts`) into their hourly partitions; the files."""
    import pyarrow.compute as pc

    filesystem_, base = filesystem(uri)
    hours = pc.floor_temporal(table[TIME], unit="hour")
    distinct = sorted(pc.unique(hours).to_pylist())
    written = []
    for hour in distinct:
        part = table if len(distinct) == 1 else table.filter(pc.equal(hours, pa.scalar(hour, hours.type)))
        path = posixpath.join(base, model, partition(hour), f"{uuid.uuid4().hex}.parquet")
        _write(filesystem_, path, part)
        written.append(path)
    return written


def _files(filesystem_: Any, root: str) -> list[Any]:
    from pyarrow import fs

    info = filesystem_.get_file_info(root)
    if info.type != fs.FileType.Directory:
        return []
    return [
        f
        for f in filesystem_.get_file_info(fs.FileSelector(root, recursive=True))
        if f.type == fs.FileType.File and f.path.endswith(".parquet")
    ]


def _hour_of(path: str) -> datetime | None:
    parts = dict(p.split("=", 1) for p in path.split("/") if p.startswith(("date=", "hour=")))
    try:
        return datetime.strptime(f"{parts['date']} {parts['hour']}", "%Y-%m-%d %H").replace(tzinfo=UTC)
    except (KeyError, ValueError):
        return None


def _read(filesystem_: Any, paths: Iterable[str], columns: list[str] | None = None) -> pd.DataFrame:
    tables = [pq.read_table(p, filesystem=filesystem_, columns=columns) for p in paths]
    if not tables:
        return pd.DataFrame()
    return pa.concat_tables(tables, promote_options="permissive").to_pandas()


def read_capture(
    uri: str,
    model: str,
    since: datetime | None = None,
    until: datetime | None = None,
    columns: list[str] | None = None,
) -> pd.DataFrame:
    """Captured rows of `model` with `since < ts <= until` (files of other hours are not opened).

    Rows come in partition and file order, not sorted (sorting 1M rows by time and id took 3 s).
    `columns` reads only those (plus the time, request id and row).
    """
    filesystem_, base = filesystem(uri)
    paths = []
    for f in _files(filesystem_, posixpath.join(base, model)):
        hour = _hour_of(f.path)
        if hour is None:
            continue  # feedback/, windows/
        if since is not None and hour + timedelta(hours=1) <= since:
            continue
        if until is not None and hour > until:
            continue
        paths.append(f.path)
    if columns is not None:
        columns = list(dict.fromkeys([TIME, REQUEST_ID, ROW, *columns]))
    frame = _read(filesystem_, sorted(paths), columns)
    if frame.empty:
        return frame
    frame[TIME] = pd.to_datetime(frame[TIME], utc=True)
    if since is None and until is None:
        return frame
    keep = np.ones(len(frame), dtype=bool)
    if since is not None:
        keep &= (frame[TIME] > pd.Timestamp(since)).to_numpy()
    if until is not None:
        keep &= (frame[TIME] <= pd.Timestamp(until)).to_numpy()
    return frame if keep.all() else frame[keep].reset_index(drop=True)


def is_shadow(frame: pd.DataFrame) -> pd.Series:
    """Which captured rows are a shadow version's copies (never answered to a client)."""
    if ROLE not in frame.columns:  # written before shadows existed
        return pd.Series(False, index=frame.index)
    return (frame[ROLE] == SHADOW_ROLE).fillna(False).astype(bool)


def answered_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of answers sent back to clients (shadow copies left out)."""
    shadow = is_shadow(frame)
    return frame[~shadow.to_numpy()] if shadow.any() else frame


def read_feedback(uri: str, model: str) -> pd.DataFrame:
    """Every label recorded for `model` (columns request_id, label, received_at)."""
    filesystem_, base = filesystem(uri)
    files = _files(filesystem_, posixpath.join(base, model, FEEDBACK_DIR))
    frame = _read(filesystem_, sorted(f.path for f in files))
    if frame.empty:
        return pd.DataFrame({REQUEST_ID: pd.Series(dtype=str), LABEL: pd.Series(dtype=object)})
    return frame


def write_feedback(uri: str, model: str, frame: pd.DataFrame, name: str) -> str:
    """Write one file of labels for `model`; its path."""
    filesystem_, base = filesystem(uri)
    path = posixpath.join(base, model, FEEDBACK_DIR, f"{name}.parquet")
    _write(filesystem_, path, pa.Table.from_pandas(frame, preserve_index=False))
    return path


def write_window(uri: str, model: str, frame: pd.DataFrame, name: str) -> str:
    """Write a labelled window for retraining; its URI (a local path, or `s3://...`)."""
    filesystem_, base = filesystem(uri)
    path = posixpath.join(base, model, WINDOWS_DIR, f"{name}.parquet")
    _write(filesystem_, path, pa.Table.from_pandas(frame, preserve_index=False))
    return path if "://" not in uri else f"{uri.split('://', 1)[0]}://{path}"


def models(uri: str) -> list[str]:
    """The model names that have captured traffic under `uri`."""
    from pyarrow import fs

    filesystem_, base = filesystem(uri)
    if filesystem_.get_file_info(base).type != fs.FileType.Directory:
        return []
    entries = filesystem_.get_file_info(fs.FileSelector(base))
    return sorted(posixpath.basename(e.path) for e in entries if e.type == fs.FileType.Directory)
