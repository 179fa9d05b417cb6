"""Content hashes for lineage: the same rows hash the same whether read from CSV or Parquet."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd


def frame_hash(frame: pd.DataFrame) -> str:
    """SHA-256 of a frame's column names and values (index ignored), as hex."""
    digest = hashlib.sha256()
    digest.update("\x1f".join(map(str, frame.columns)).encode())
    normalized = frame.apply(
        lambda s: s.astype("float64") if pd.api.types.is_numeric_dtype(s) else s.astype("string")
    )
    digest.update(pd.util.hash_pandas_object(normalized, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tree_sha256(root: str | Path, exclude: tuple[str, ...] = ()) -> str:
    """SHA-256 over every file under `root` (relative path + content), in sorted order.

    Files whose name is in `exclude` are skipped.
    """
    root = Path(root)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name not in exclude):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(file_sha256(path).encode())
    return digest.hexdigest()
