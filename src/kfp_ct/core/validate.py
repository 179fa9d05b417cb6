"""Validate a dataset against a schema; collect every violation instead of stopping at the first.

Each rule has a default severity (`error` fails the step, `warning` is reported, `off` skips);
`ValidationConfig.severities` overrides them by rule name.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from kfp_ct.core import pandera_io
from kfp_ct.core.pandera_io import declared_columns
from kfp_ct.core.schema import NUMERIC, Schema, numeric_share
from kfp_ct.errors import ParameterError, ValidationFailed
from kfp_ct.params import json_object

log = logging.getLogger(__name__)

ERROR, WARNING, OFF = "error", "warning", "off"
DEFAULT_SEVERITIES: dict[str, str] = {
    "label_missing": ERROR,
    "label_null": ERROR,
    "label_constant": ERROR,
    "label_unseen_class": WARNING,
    "missing_column": ERROR,
    "unexpected_column": WARNING,
    "column_count": ERROR,
    "dtype": ERROR,
    "all_null": ERROR,
    "null_rate": ERROR,
    "infinite": ERROR,
    "range": WARNING,
    "category": WARNING,
    "min_rows": ERROR,
    "duplicates": WARNING,
    "leakage": ERROR,
    "pandera": ERROR,  # a check of a pandera schema given with --schema (see core.pandera_io)
}


@dataclass(frozen=True)
class Violation:
    """One broken rule: where, what, what was seen and what was expected."""

    rule: str
    column: str
    observed: str
    expected: str
    severity: str

    def __str__(self) -> str:
        return f"[{self.column}] {self.rule}: {self.observed} (expected {self.expected})"


@dataclass
class ValidationConfig:
    """Thresholds and severities."""

    min_rows: int = 50
    max_null_rate: float = 0.2
    null_rate_margin: float = 0.05
    range_tolerance: float = 0.1
    max_duplicate_rate: float = 0.05
    max_leakage_rate: float = 0.0
    max_column_ratio: float = 3.0  # more columns than this times the schema's: the wrong file
    severities: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if name == "severities":
                if not isinstance(value, dict):
                    raise ParameterError(f"severities must be a JSON object rule -> severity, got {value!r}")
            elif isinstance(value, bool) or not isinstance(value, int | float):
                raise ParameterError(f"validation config {name} must be a number, got {value!r}")
            elif name == "min_rows" and not float(value).is_integer():
                raise ParameterError(f"min_rows must be a whole number, got {value!r}")
        unknown = sorted(set(self.severities) - set(DEFAULT_SEVERITIES))
        if unknown:
            raise ParameterError(f"unknown validation rules {unknown}; known: {sorted(DEFAULT_SEVERITIES)}")
        bad = {k: v for k, v in self.severities.items() if v not in (ERROR, WARNING, OFF)}
        if bad:
            raise ParameterError(f"severities must be error, warning or off; got {bad}")
        for name in ("max_null_rate", "range_tolerance", "max_duplicate_rate", "max_leakage_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0 and name != "range_tolerance":
                raise ParameterError(f"{name} must be within [0, 1], got {value}")
        if self.min_rows < 1:
            raise ParameterError(f"min_rows must be >= 1, got {self.min_rows}")
        if self.max_column_ratio < 1:
            raise ParameterError(f"max_column_ratio must be >= 1, got {self.max_column_ratio}")

    @classmethod
    def from_json(cls, text: str) -> ValidationConfig:
        """Parse a JSON object of fields (empty text gives the defaults)."""
        data = json_object(text, "validation config")
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ParameterError(
                f"unknown validation config keys {unknown}; known: {sorted(cls.__dataclass_fields__)}"
            )
        return cls(**data)

    def severity(self, rule: str) -> str:
        """Effective severity of `rule`."""
        return self.severities.get(rule, DEFAULT_SEVERITIES[rule])


@dataclass
class ValidationResult:
    """All violations found and summary statistics."""

    source: str
    violations: list[Violation]
    stats: dict[str, float]

    @property
    def errors(self) -> list[Violation]:
        """Error-level violations."""
        return [v for v in self.violations if v.severity == ERROR]

    @property
    def warnings(self) -> list[Violation]:
        """Warning-level violations."""
        return [v for v in self.violations if v.severity == WARNING]

    def raise_for_errors(self) -> None:
        """Raise ValidationFailed listing every error, if there is any."""
        if self.errors:
            listed = "; ".join(str(v) for v in self.errors)
            raise ValidationFailed(
                f"validation failed for {self.source}: {len(self.errors)} error(s): {listed}"
            )

    def to_markdown(self) -> str:
        """A report for the Kubeflow UI and MLflow."""
        status = "FAILED" if self.errors else "passed"
        lines = [
            f"# Data validation {status}",
            "",
            f"Source: `{self.source}`",
            "",
            "| statistic | value |",
            "|---|---|",
            *[f"| {k} | {v:g} |" for k, v in self.stats.items()],
            "",
        ]
        if not self.violations:
            return "\n".join([*lines, "No violations."])
        lines += ["| severity | column | rule | observed | expected |", "|---|---|---|---|---|"]
        lines += [
            f"| {v.severity} | `{v.column}` | {v.rule} | {v.observed} | {v.expected} |"
            for v in self.violations
        ]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-safe dict."""
        return {
            "source": self.source,
            "violations": [asdict(v) for v in self.violations],
            "stats": self.stats,
        }


class _Collector:
    def __init__(self, config: ValidationConfig) -> None:
        self.config = config
        self.violations: list[Violation] = []

    def add(self, rule: str, column: str, observed: str, expected: str) -> None:
        severity = self.config.severity(rule)
        if severity != OFF:
            self.violations.append(Violation(rule, column, observed, expected, severity))


def _example(values: pd.Series, limit: int = 3) -> str:
    shown = [repr(v) for v in values.head(limit).tolist()]
    rows = [str(i) for i in values.head(limit).index.tolist()]
    return f"e.g. {', '.join(shown)} (rows {', '.join(rows)})"


def _check_label(frame: pd.DataFrame, schema: Schema, out: _Collector) -> None:
    label = schema.label
    if label not in frame.columns:
        out.add("label_missing", label, "column absent", f"a label column '{label}' (set --label)")
        return
    y = frame[label]
    if y.isna().any():
        out.add("label_null", label, f"{int(y.isna().sum())} null labels", "no null labels")
    if y.dropna().nunique() < 2:
        out.add("label_constant", label, f"{y.dropna().nunique()} distinct value(s)", "2 or more")
    if schema.label_classes:
        unseen = sorted(set(y.dropna().astype(str)) - set(schema.label_classes))
        if unseen:
            out.add("label_unseen_class", label, f"classes {unseen[:5]}", f"{schema.label_classes}")


def _check_numeric(
    series: pd.Series, col, cfg: ValidationConfig, out: _Collector, by_pandera: bool = False
) -> None:
    name = str(series.name)
    values = series.dropna()
    numbers = pd.to_numeric(values, errors="coerce")
    bad = values[numbers.isna()]
    if len(bad) and not by_pandera:
        out.add("dtype", name, f"{len(bad)} non-numeric value(s), {_example(bad)}", "numbers")
    numbers = numbers.dropna()
    inf = numbers[np.isinf(numbers.to_numpy(dtype="float64"))]
    if len(inf):
        out.add("infinite", name, f"{len(inf)} infinite value(s), {_example(inf)}", "finite numbers")
    finite = numbers[np.isfinite(numbers.to_numpy(dtype="float64"))]
    if by_pandera or col.minimum is None or col.maximum is None or finite.empty:
        return
    slack = cfg.range_tolerance * max(col.maximum - col.minimum, abs(col.maximum), 1e-9)
    low, high = col.minimum - slack, col.maximum + slack
    outside = finite[(finite < low) | (finite > high)]
    if len(outside):
        out.add(
            "range",
            name,
            f"{len(outside)} value(s) outside, min {finite.min():g}, max {finite.max():g}",
            f"within [{low:g}, {high:g}]",
        )


def _check_categorical(series: pd.Series, col, out: _Collector) -> None:
    if col.categories is None:
        return
    values = series.dropna().astype(str)
    unseen = values[~values.isin(col.categories)]
    if len(unseen):
        shown = sorted(unseen.unique().tolist())[:5]
        out.add(
            "category",
            str(series.name),
            f"{len(unseen)} value(s) in unseen categories {shown}",
            f"one of {col.categories[:10]}",
        )


def _check_columns(frame: pd.DataFrame, schema: Schema, cfg: ValidationConfig, out: _Collector) -> None:
    expected = {c.name for c in schema.columns}
    declared = declared_columns(schema.pandera)  # pandera checks their presence, dtype and values
    for col in schema.columns:
        if col.name == schema.label:
            continue
        if col.name not in frame.columns:
            if col.name not in declared:
                out.add("missing_column", col.name, "column absent", "present")
            continue
        series = frame[col.name]
        null_rate = float(series.isna().mean())
        if null_rate == 1.0:
            out.add("all_null", col.name, "every value is null", "some values")
            continue
        limit = max(cfg.max_null_rate, col.null_rate + cfg.null_rate_margin)
        if null_rate > limit:
            out.add("null_rate", col.name, f"null rate {null_rate:.1%}", f"<= {limit:.1%}")
        if col.kind == NUMERIC:
            _check_numeric(series, col, cfg, out, by_pandera=col.name in declared)
        elif col.name not in declared:
            _check_categorical(series, col, out)
    extra = [c for c in frame.columns if c not in expected]
    limit = int(cfg.max_column_ratio * len(schema.columns))
    if schema.columns and frame.shape[1] > limit:
        out.add(
            "column_count",
            "*",
            f"{frame.shape[1]} columns",
            f"at most {limit} ({cfg.max_column_ratio:g}x the {len(schema.columns)} schema columns)",
        )
    if extra:
        out.add(
            "unexpected_column",
            ", ".join(map(str, extra[:10])),
            f"{len(extra)} extra column(s)",
            "only schema columns",
        )


def _check_rows(frame: pd.DataFrame, cfg: ValidationConfig, out: _Collector) -> float:
    if len(frame) < cfg.min_rows:
        out.add("min_rows", "*", f"{len(frame)} rows", f">= {cfg.min_rows}")
    dup_rate = float(frame.duplicated().mean()) if len(frame) else 0.0
    if dup_rate > cfg.max_duplicate_rate:
        out.add("duplicates", "*", f"{dup_rate:.1%} duplicate rows", f"<= {cfg.max_duplicate_rate:.1%}")
    return dup_rate


def leakage_rate(train: pd.DataFrame, test: pd.DataFrame, label: str) -> float:
    """Share of test rows whose features appear verbatim in the training rows."""
    features = [c for c in test.columns if c != label and c in train.columns]
    if not features or test.empty:
        return 0.0
    train_keys = set(pd.util.hash_pandas_object(train[features], index=False))
    test_keys = pd.util.hash_pandas_object(test[features], index=False)
    return float(test_keys.isin(train_keys).mean())


def validate_frame(
    frame: pd.DataFrame,
    schema: Schema,
    config: ValidationConfig,
    source: str = "dataset",
) -> ValidationResult:
    """Check `frame` against `schema`; return every violation found."""
    out = _Collector(config)
    _check_label(frame, schema, out)
    if schema.pandera:
        for column, observed, expected in pandera_io.failures(schema.pandera, frame, source):
            out.add("pandera", column, observed, expected)
    _check_columns(frame, schema, config, out)
    dup_rate = _check_rows(frame, config, out)
    stats = {
        "rows": float(len(frame)),
        "columns": float(frame.shape[1]),
        "duplicate_rate": dup_rate,
        "null_rate": float(frame.isna().mean().mean()) if frame.size else 0.0,
    }
    result = ValidationResult(source, out.violations, stats)
    _log_result(result)
    return result


def check_leakage(
    result: ValidationResult,
    train: pd.DataFrame,
    test: pd.DataFrame,
    label: str,
    config: ValidationConfig,
) -> None:
    """Add a leakage violation to `result` when test rows repeat training rows."""
    rate = leakage_rate(train, test, label)
    result.stats["leakage_rate"] = rate
    out = _Collector(config)
    if rate > config.max_leakage_rate:
        out.add(
            "leakage",
            "*",
            f"{rate:.1%} of test rows also in train",
            f"<= {config.max_leakage_rate:.1%}",
        )
    result.violations.extend(out.violations)


def coerce_to_schema(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Numeric schema columns as float64 (bad values and infinities become NaN), others as str."""
    frame = frame.copy()
    for col in schema.features:
        if col.name not in frame.columns:
            continue
        if col.kind == NUMERIC:
            values = pd.to_numeric(frame[col.name], errors="coerce").astype("float64")
            frame[col.name] = values.replace([np.inf, -np.inf], np.nan)
        else:
            frame[col.name] = frame[col.name].astype("object").where(frame[col.name].notna(), None)
            frame[col.name] = frame[col.name].map(lambda v: v if v is None else str(v))
    return frame


def _log_result(result: ValidationResult) -> None:
    for v in result.violations:
        (log.error if v.severity == ERROR else log.warning)("%s %s", v.severity, v)


__all__ = [
    "ValidationConfig",
    "ValidationFailed",
    "ValidationResult",
    "Violation",
    "check_leakage",
    "coerce_to_schema",
    "leakage_rate",
    "numeric_share",
    "validate_frame",
]
