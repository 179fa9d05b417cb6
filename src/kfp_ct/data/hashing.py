"""Data content hashes for lineage: the same rows hash the same whether read from CSV or Parquet."""

from __future__ import annotations

import hashlib

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
