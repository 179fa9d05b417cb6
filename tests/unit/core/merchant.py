"""A long-tailed `merchant` column (Zipf over 20,000 values), as in payments or retail data."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kfp_ct.data.synth import SynthSpec, make_dataset

N_MERCHANTS = 20_000


def merchants(rows: int, seed: int, n: int = N_MERCHANTS, a: float = 1.1, shift: int = 0) -> np.ndarray:
    """`rows` merchant ids drawn Zipf(a) over `n` ids; `shift` moves which ids are popular."""
    rng = np.random.default_rng(seed)
    weights = np.arange(1, n + 1, dtype=float) ** -a
    drawn = (rng.choice(n, size=rows, p=weights / weights.sum()) + shift) % n
    return np.char.add("m", drawn.astype(str))


def with_merchant(
    spec: SynthSpec, shift: int = 0, signal: bool = True, every_id: bool = False
) -> pd.DataFrame:
    """The synthetic dataset plus `merchant`; with `signal`, a few popular merchants move the label.

    `every_id`: the first 20,000 rows hold each merchant id once (so all 20,000 values are seen),
    the others are Zipf draws.
    """
    frame = make_dataset(spec)
    ids = merchants(spec.rows, spec.seed + 1000, shift=shift)
    if every_id:
        if spec.rows < N_MERCHANTS:
            raise ValueError(f"every_id needs at least {N_MERCHANTS} rows")
        ids[:N_MERCHANTS] = np.random.default_rng(spec.seed).permutation(
            np.char.add("m", np.arange(N_MERCHANTS).astype(str))
        )
    frame.insert(len(frame.columns) - 1, "merchant", ids)
    if signal:
        special = np.isin(ids, ["m0", "m3", "m7", "m12"])
        label = frame[spec.label]
        if spec.task == "binary":
            frame.loc[special, spec.label] = 1
        elif spec.task == "multiclass":
            frame.loc[special, spec.label] = "high"
        else:
            frame[spec.label] = np.round(label + 8.0 * special, 3)
    return frame
