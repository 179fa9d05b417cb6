"""Task types and how to infer one from a label column."""

from __future__ import annotations

import pandas as pd

from kfp_ct.errors import DataError, ParameterError

BINARY, MULTICLASS, REGRESSION = "binary", "multiclass", "regression"
TASKS = (BINARY, MULTICLASS, REGRESSION)
MAX_CLASSES = 50


def is_classification(task: str) -> bool:
    """True for binary and multiclass."""
    return task in (BINARY, MULTICLASS)


def infer_task(label: pd.Series, requested: str = "auto") -> str:
    """Return the task for `label`: `requested` when given, else inferred from the values."""
    if requested not in ("auto", "", *TASKS):
        raise ParameterError(f"task must be auto, {', '.join(TASKS)}; got '{requested}'")
    values = label.dropna()
    distinct = values.nunique()
    if requested not in ("auto", ""):
        if requested != REGRESSION and distinct > MAX_CLASSES:
            raise DataError(
                f"label '{label.name}' has {distinct} classes; task '{requested}' allows {MAX_CLASSES}"
            )
        return requested
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if numeric and (values % 1 != 0).any():
        return REGRESSION
    if distinct == 2:
        return BINARY
    if numeric and distinct > 20:
        return REGRESSION
    if distinct > MAX_CLASSES:
        raise DataError(
            f"label '{label.name}' has {distinct} distinct non-numeric values; "
            f"classification supports up to {MAX_CLASSES} classes"
        )
    return MULTICLASS
