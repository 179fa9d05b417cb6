"""Seeded train/test split, stratified for classification."""

from __future__ import annotations

import pandas as pd

from kfp_ct.errors import DataError

# A column that fixes each row's side of the split ("train" or "test"); dropped before training.
SPLIT_COLUMN = "kfp_ct_split"


def split_frame(
    frame: pd.DataFrame, label: str, test_size: float, seed: int, stratify: bool
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split rows into train and test; stratify by label when asked and every class has 2+ rows."""
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_size < 1.0:
        raise DataError(f"test_size must be in (0, 1), got {test_size}")
    strata = None
    if stratify:
        counts = frame[label].value_counts()
        if (counts >= 2).all():
            strata = frame[label]
    train, test = train_test_split(frame, test_size=test_size, random_state=seed, stratify=strata)
    return train.reset_index(drop=True), test.reset_index(drop=True)


def split_by_column(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split on SPLIT_COLUMN ("train"/"test") and drop it."""
    sides = frame[SPLIT_COLUMN].astype(str)
    unknown = sorted(set(sides) - {"train", "test"})
    if unknown:
        raise DataError(f"column '{SPLIT_COLUMN}' may hold only 'train' or 'test', found {unknown[:5]}")
    if not (sides == "test").any() or not (sides == "train").any():
        raise DataError(f"column '{SPLIT_COLUMN}' must mark some rows 'train' and some 'test'")
    rest = frame.drop(columns=[SPLIT_COLUMN])
    return rest[sides == "train"].reset_index(drop=True), rest[sides == "test"].reset_index(drop=True)


def mark_sides(train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    """One frame whose SPLIT_COLUMN fixes which rows are trained on and which are held out."""
    parts = [train.assign(**{SPLIT_COLUMN: "train"}), test.assign(**{SPLIT_COLUMN: "test"})]
    return pd.concat(parts, ignore_index=True)
