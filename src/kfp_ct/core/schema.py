"""Dataset schemas: inferred from a reference frame, saved as JSON, given back to validation.

`Schema.load` also reads a pandera `DataFrameSchema` file (YAML or JSON, see `core.pandera_io`);
the pandera text then travels with the schema, so pandera checks what it declares.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from kfp_ct.errors import DataError

NUMERIC, CATEGORICAL = "numeric", "categorical"
MAX_CATEGORIES = 200
NUMERIC_SHARE = 0.9  # an object column whose values are >= 90% numbers is a numeric column


@dataclass
class ColumnSchema:
    """Expected properties of one column."""

    name: str
    kind: str  # numeric | categorical
    null_rate: float = 0.0
    minimum: float | None = None
    maximum: float | None = None
    categories: list[str] | None = None
    dtype: str | None = None  # pandas dtype in the data the schema was inferred from (int64, ...)


@dataclass
class Schema:
    """Expected columns, label and task of a dataset."""

    label: str
    task: str
    columns: list[ColumnSchema] = field(default_factory=list)
    label_classes: list[str] | None = None
    rows: int = 0
    pandera: str | None = None  # the pandera DataFrameSchema (YAML/JSON text) this schema came from

    @property
    def features(self) -> list[ColumnSchema]:
        """Feature columns (everything but the label)."""
        return [c for c in self.columns if c.name != self.label]

    def feature_columns(self, frame: pd.DataFrame) -> list[str]:
        """Names of this schema's features present in `frame`, in schema order."""
        return [c.name for c in self.features if c.name in frame.columns]

    def column(self, name: str) -> ColumnSchema | None:
        """The column called `name`, if any."""
        return next((c for c in self.columns if c.name == name), None)

    def with_source_dtypes(self, frame: pd.DataFrame) -> pd.DataFrame:
        """`frame` with integer columns of the source data back as int64 (where whole and complete).

        Validation hands training every number as float64; a model signature logged from that
        declares `double`, and MLflow pyfunc then refuses the int64 columns of the raw CSV.
        """
        casts = {
            c.name: "int64"
            for c in self.features
            if c.kind == NUMERIC
            and (c.dtype or "").lower().startswith(("int", "uint"))
            and c.name in frame.columns
            and frame[c.name].notna().all()
            and bool((frame[c.name] % 1 == 0).all())
        }
        return frame.astype(casts) if casts else frame

    def to_dict(self) -> dict:
        """JSON-safe dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Schema:
        """Build from `to_dict` output."""
        columns = [ColumnSchema(**c) for c in data.get("columns", [])]
        return cls(**{**data, "columns": columns})

    def save(self, path: str | Path) -> Path:
        """Write as JSON."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2))
        return path

    @classmethod
    def load(cls, path: str | Path, label: str | None = None) -> Schema:
        """Read a kfp-ct schema JSON or a pandera schema YAML/JSON file, naming the file on error.

        Args:
            path: The file.
            label: The target column, for a pandera schema (which does not name one).
        """
        from kfp_ct.core import pandera_io

        try:
            text = Path(path).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: cannot read the schema file ({exc})") from None
        if pandera_io.parse(text) is not None:
            if label is None:
                raise DataError(f"{path}: a pandera schema names no label; give the label column")
            return pandera_io.to_schema(text, label, str(path))
        try:
            return cls.from_dict(json.loads(text))
        except (ValueError, TypeError) as exc:
            raise DataError(
                f"{path}: not a valid kfp-ct schema JSON or pandera DataFrameSchema file ({exc})"
            ) from None


def numeric_share(series: pd.Series) -> float:
    """Share of non-null values that parse as finite-or-infinite numbers."""
    values = series.dropna()
    if values.empty:
        return 0.0
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return 1.0
    return float(pd.to_numeric(values, errors="coerce").notna().mean())


def column_kind(series: pd.Series) -> str:
    """Numeric when (nearly) every value is a number, else categorical."""
    return NUMERIC if numeric_share(series) >= NUMERIC_SHARE else CATEGORICAL


def infer_column(series: pd.Series, dtype: str | None = None) -> ColumnSchema:
    """Schema of one column from reference values (`dtype`: the source's, default the series')."""
    kind = column_kind(series)
    col = ColumnSchema(
        name=str(series.name),
        kind=kind,
        null_rate=float(series.isna().mean()),
        dtype=dtype or str(series.dtype),
    )
    if kind == NUMERIC:
        values = pd.to_numeric(series, errors="coerce").replace([np.inf, -np.inf], np.nan).dropna()
        if not values.empty:
            col.minimum, col.maximum = float(values.min()), float(values.max())
    else:
        distinct = series.dropna().astype(str).unique()
        if len(distinct) <= MAX_CATEGORIES:
            col.categories = sorted(distinct.tolist())
    return col


def infer_schema(frame: pd.DataFrame, label: str, task: str, source: pd.DataFrame | None = None) -> Schema:
    """Infer a schema from a reference frame.

    Args:
        frame: The reference rows.
        label: The label column.
        task: binary, multiclass or regression.
        source: The same rows as read, when `frame` is a type-coerced copy: their dtypes are recorded.
    """
    from kfp_ct.core.tasks import is_classification

    classes = None
    if label in frame and is_classification(task):
        classes = sorted(frame[label].dropna().astype(str).unique().tolist())
    return Schema(
        label=label,
        task=task,
        columns=[
            infer_column(frame[c], None if source is None or c not in source else str(source[c].dtype))
            for c in frame.columns
        ],
        label_classes=classes,
        rows=len(frame),
    )
