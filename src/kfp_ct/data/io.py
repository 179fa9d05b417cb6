"""Read and write CSV/Parquet tables by path or URI, with errors that name the file and problem."""

from __future__ import annotations

import csv
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd

from kfp_ct.errors import DataError

SUPPORTED = (".csv", ".parquet", ".pq")
MAX_COLUMNS = 2000


def local_path(uri: str) -> Path:
    """Turn a path or `file://` URI into a local Path; remote URIs are fetched through MLflow."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(parsed.path if parsed.scheme else uri)
    if parsed.scheme in ("s3", "gs", "http", "https", "hdfs", "abfss", "wasbs"):
        return _download(uri)
    raise DataError(f"{uri}: unsupported URI scheme '{parsed.scheme}' (use a path, s3:// or gs://)")


def _download(uri: str) -> Path:
    from kfp_ct.tracking.models import download_artifact

    try:
        return download_artifact(uri)
    except Exception as exc:  # the store's own error names the cause (credentials, 404, ...)
        raise DataError(f"{uri}: cannot download: {exc}") from exc


def _check_delimiter(path: Path, frame: pd.DataFrame) -> None:
    if frame.shape[1] != 1:
        return
    with path.open(newline="", errors="replace") as fh:
        sample = fh.read(4096)
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=";\t|")
    except csv.Error:
        return
    raise DataError(
        f"{path}: read as one column '{frame.columns[0]}', but lines look delimited by "
        f"{dialect.delimiter!r}; convert the file to comma-separated CSV"
    )


def read_table(uri: str) -> pd.DataFrame:
    """Read a CSV or Parquet file into a DataFrame; raise DataError naming the file on failure."""
    path = local_path(uri)
    if not path.exists():
        raise DataError(f"{uri}: file not found")
    if path.is_dir():
        raise DataError(f"{uri}: is a directory; give a .csv or .parquet file")
    suffix = path.suffix.lower() or _sniff(path)
    if suffix not in SUPPORTED:
        raise DataError(f"{uri}: unsupported file type '{suffix}'; use one of {', '.join(SUPPORTED)}")
    if path.stat().st_size == 0:
        raise DataError(f"{uri}: file is empty")
    frame = _read_parquet(path, uri) if suffix in (".parquet", ".pq") else _read_csv(path, uri)
    _check_columns(frame, uri)
    return frame


def _sniff(path: Path) -> str:
    """Type of a file without a suffix (e.g. a KFP artifact): Parquet by its magic bytes, else CSV."""
    with path.open("rb") as fh:
        return ".parquet" if fh.read(4) == b"PAR1" else ".csv"


def _read_csv(path: Path, uri: str) -> pd.DataFrame:
    with path.open("rb") as fh:
        head = fh.read(8192)
    if b"\x00" in head:
        raise DataError(f"{uri}: not a text CSV file (binary content)")
    try:
        frame = pd.read_csv(path, low_memory=False, encoding_errors="strict")
    except UnicodeDecodeError as exc:
        raise DataError(f"{uri}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{uri}: file has no header and no rows") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"{uri}: malformed CSV: {str(exc).strip()}") from None
    _check_delimiter(path, frame)
    _check_duplicate_header(path, frame, uri)
    return frame


def _check_duplicate_header(path: Path, frame: pd.DataFrame, uri: str) -> None:
    with path.open(newline="") as fh:
        header = next(csv.reader(fh), [])
    seen: set[str] = set()
    dupes = sorted({h for h in header if h in seen or seen.add(h)})
    if dupes:
        raise DataError(f"{uri}: duplicated column names {dupes}")


def _read_parquet(path: Path, uri: str) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for truncated or foreign files
        raise DataError(f"{uri}: unreadable Parquet file ({type(exc).__name__}: {exc})") from None


def _check_columns(frame: pd.DataFrame, uri: str) -> None:
    if frame.columns.duplicated().any():
        dupes = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise DataError(f"{uri}: duplicated column names {dupes}")
    if frame.shape[1] > MAX_COLUMNS:
        raise DataError(f"{uri}: {frame.shape[1]} columns (limit {MAX_COLUMNS})")
    if frame.empty:
        raise DataError(f"{uri}: header only, no data rows")


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a DataFrame as CSV or Parquet, chosen by the file suffix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".parquet", ".pq"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path
