"""Schemas in pandera's own format: read a `DataFrameSchema` (YAML or JSON), write one, run its checks.

A user brings a schema written by `schema.to_yaml()` (or by hand, in the same layout) with
`--schema`; kfp-ct reads the columns, dtypes, ranges and allowed values into its own `Schema`
and keeps the pandera text with it, so pandera itself checks what it declares (dtypes, nullability,
ranges, allowed values, any other check it knows) on every later run. kfp-ct's own rules (label,
all-null, infinities, row count, duplicates, leakage) still run; its dtype, range and category
rules do not run again on the columns the pandera schema declares.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
import yaml

from kfp_ct.errors import DataError

if TYPE_CHECKING:
    from kfp_ct.core.schema import Schema

MARK = "schema_type"  # every DataFrameSchema file pandera writes starts with `schema_type: dataframe`
MAX_ISIN = 50  # categorical columns with at most this many values get an `isin` check when written
LOWER = ("greater_than_or_equal_to", "greater_than", "ge", "gt")
UPPER = ("less_than_or_equal_to", "less_than", "le", "lt")


def parse(text: str) -> dict[str, Any] | None:
    """The document of a pandera schema file, or None when `text` is not one."""
    try:
        data = yaml.safe_load(text)  # YAML is a superset of JSON
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) and data.get(MARK) == "dataframe" else None


def load(text: str, source: str = "schema"):
    """A pandera `DataFrameSchema` from its YAML or JSON text (DataError naming `source` if invalid)."""
    import pandera.pandas as pa

    try:
        if text.lstrip().startswith("{"):
            return pa.DataFrameSchema.from_json(text)
        return pa.DataFrameSchema.from_yaml(text)
    except Exception as exc:
        raise DataError(
            f"{source}: not a valid pandera DataFrameSchema ({' '.join(str(exc).split())})"
        ) from None


def _numeric(dtype: str) -> bool:
    return dtype.startswith(("int", "uint", "float", "Int", "UInt", "Float")) or dtype in ("number", "double")


def _bounds(checks: list) -> tuple[float | None, float | None, list[str] | None]:
    low = high = None
    allowed = None
    for check in checks:
        stats = dict(check.statistics or {})
        if check.name in LOWER:
            low = float(stats.get("min_value"))
        elif check.name in UPPER:
            high = float(stats.get("max_value"))
        elif check.name in ("in_range", "between"):
            low, high = float(stats["min_value"]), float(stats["max_value"])
        elif check.name == "isin":
            allowed = sorted(str(v) for v in stats.get("allowed_values", []))
    return low, high, allowed


def to_schema(text: str, label: str, source: str = "schema") -> Schema:
    """kfp-ct's `Schema` of a pandera schema file; `label` names the target column."""
    from kfp_ct.core.schema import CATEGORICAL, NUMERIC, ColumnSchema, Schema

    pa_schema = load(text, source)
    columns = []
    for name, column in pa_schema.columns.items():
        dtype = str(column.dtype) if column.dtype is not None else ""
        low, high, allowed = _bounds(column.checks)
        kind = NUMERIC if _numeric(dtype) or (not dtype and low is not None) else CATEGORICAL
        columns.append(
            ColumnSchema(
                name=str(name),
                kind=kind,
                minimum=low,
                maximum=high,
                categories=allowed,
                dtype=dtype or None,
            )
        )
    return Schema(label=label, task="auto", columns=columns, pandera=text)


def to_yaml(schema: Schema, tolerance: float = 0.1) -> str:
    """`schema` as a pandera DataFrameSchema YAML (what `DataFrameSchema.to_yaml()` writes).

    A schema that came from a pandera file gives that file back. Otherwise numeric columns get
    their dtype and a range widened by `tolerance` (as kfp-ct's own range rule), categorical
    columns with few values an `isin` check, and columns without nulls `nullable: false`.
    """
    if schema.pandera:
        return schema.pandera
    import pandera.pandas as pa

    columns = {}
    for col in schema.columns:
        checks = []
        if col.minimum is not None and col.maximum is not None:
            slack = tolerance * max(col.maximum - col.minimum, abs(col.maximum), 1e-9)
            checks.append(pa.Check.in_range(col.minimum - slack, col.maximum + slack))
        if col.categories is not None and len(col.categories) <= MAX_ISIN and col.name != schema.label:
            checks.append(pa.Check.isin(col.categories))
        numeric = col.kind == "numeric"
        dtype = (
            col.dtype if numeric and col.dtype and _numeric(col.dtype) else ("float64" if numeric else None)
        )
        columns[col.name] = pa.Column(
            dtype, checks=checks or None, nullable=col.null_rate > 0, coerce=numeric
        )
    return pa.DataFrameSchema(columns, strict=False).to_yaml()


def _example(cases: pd.DataFrame, limit: int = 3) -> str:
    values = [repr(v) for v in cases["failure_case"].head(limit).tolist()]
    rows = [str(i) for i in cases["index"].head(limit).tolist() if i is not None and not pd.isna(i)]
    return f"e.g. {', '.join(values)}" + (f" (rows {', '.join(rows)})" if rows else "")


def failures(text: str, frame: pd.DataFrame, source: str = "schema") -> list[tuple[str, str, str]]:
    """(column, observed, expected) for each pandera check that `frame` fails, grouped by check."""
    import pandera.pandas as pa

    pa_schema = load(text, source)
    try:
        pa_schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    except pa.errors.SchemaError as exc:  # a schema-level error that lazy mode does not collect
        return [("*", " ".join(str(exc).split())[:300], "the pandera schema")]
    else:
        return []
    out = []
    for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=False):
        if check == "column_in_dataframe":
            for missing in group["failure_case"].astype(str):
                out.append((missing, "column absent", "present (pandera column_in_dataframe)"))
            continue
        name = "*" if column is None or pd.isna(column) else str(column)
        out.append((name, f"{len(group)} value(s) fail {check}, {_example(group)}", f"pandera {check}"))
    return out


def declared_columns(text: str | None) -> set[str]:
    """The columns a pandera schema text declares (empty for None)."""
    data = parse(text) if text else None
    return set((data or {}).get("columns") or {})


__all__ = ["MARK", "declared_columns", "failures", "load", "parse", "to_schema", "to_yaml"]
