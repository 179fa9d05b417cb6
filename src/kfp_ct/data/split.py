"""Seeded train/test split, stratified for classification."""

from __future__ import annotations

import pandas as pd
from sklearn.model_selection import train_test_split

from kfp_ct.errors import DataError


def split_frame(
    frame: pd.DataFrame, label: str, test_size: float, seed: int, stratify: bool
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split rows into train and test; stratify by label when asked and every class has 2+ rows."""
    if not 0.0 < test_size < 1.0:
        raise DataError(f"test_size must be in (0, 1), got {test_size}")
    strata = None
    if stratify:
        counts = frame[label].value_counts()
        if (counts >= 2).all():
            strata = frame[label]
    train, test = train_test_split(frame, test_size=test_size, random_state=seed, stratify=strata)
    return train.reset_index(drop=True), test.reset_index(drop=True)
