"""A fast path for small requests: the fitted preprocessing of `build_pipeline` as numpy code.

A default scikit-learn `Pipeline` spends most of a single-row predict building and slicing a
DataFrame inside `ColumnTransformer`; the estimator itself takes a fraction of it. For the exact
shapes `kfp_ct.core.estimators.build_pipeline` fits (median-impute + standard-scale the numbers;
constant-impute + one-hot the categories, with or without an "infrequent" column, or
constant-impute + ordinal-encode them for estimators with native categorical splits; dense
output), `CompiledPipeline` applies the same fitted parameters with the same float64 operations,
so its matrix is bit-identical to `ColumnTransformer.transform` and the estimator's answers are
the same. Compiling checks its category mapping against the fitted encoder on every training
category. Any other pipeline, or a request that is not plainly typed, goes the generic DataFrame
way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kfp_ct.serving.protocol import NUMERIC_DATATYPES

DATATYPES = NUMERIC_DATATYPES | {"BYTES"}
ONEHOT, ORDINAL = "onehot", "ordinal"

# Classifiers whose predict() is classes_[argmax(predict_proba())], so one call gives both.
ARGMAX_CLASSIFIERS = {
    "HistGradientBoostingClassifier",
    "RandomForestClassifier",
    "DecisionTreeClassifier",
    "XGBLabelClassifier",
    "LGBMClassifier",
}


@dataclass(frozen=True)
class CompiledPipeline:
    """Numeric and categorical encoders of a fitted `build_pipeline` model, plus its estimator."""

    numeric: list[str]
    categorical: list[str]
    medians: np.ndarray  # checked at compile time; requests with missing values go generic
    means: np.ndarray | None
    scales: np.ndarray | None
    categories: list[dict[str, int]]  # per categorical column: value -> position in its block / code
    width: int
    estimator: Any
    proba_gives_predict: bool
    encoding: str = ONEHOT  # onehot: a block of 0/1 columns per column; ordinal: one code column
    unknown: tuple[int | None, ...] = ()  # per column: where an unseen value goes (onehot; None = nowhere)
    widths: tuple[int, ...] = ()  # per column: its block width (onehot)

    @classmethod
    def compile(cls, model: Any) -> CompiledPipeline | None:
        """Compile a fitted pipeline; None when it is not exactly the shape built by kfp-ct."""
        try:
            return _compile(model)
        except (AttributeError, KeyError, TypeError, ValueError, IndexError):
            return None

    def run(
        self, matrix: np.ndarray, predict: bool = True, proba: bool = True
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(labels or values, probabilities) of an encoded matrix, each only when asked for.

        One `predict_proba` call gives both for the classifiers that predict by its argmax.
        """
        estimator = self.estimator
        classifier = hasattr(estimator, "predict_proba")
        probabilities = None
        if classifier and (proba or (predict and self.proba_gives_predict)):
            probabilities = np.asarray(estimator.predict_proba(matrix), dtype="float64")
        predictions = None
        if predict and probabilities is not None and self.proba_gives_predict:
            predictions = np.asarray(estimator.classes_).take(np.argmax(probabilities, axis=1))
        elif predict:
            predictions = np.asarray(estimator.predict(matrix))
        return predictions, probabilities if proba else None

    def answer(self, columns: Mapping[str, Sequence[Any]], rows: int) -> tuple[Any, Any] | None:
        """What the server computes for a plain V2 request (`plain_columns`): encode, then `run`.

        None when a number is not finite (the server then takes the DataFrame path).
        """
        matrix = self.encode(columns, rows)
        return None if matrix is None else self.run(matrix)

    def requests(self, frame: Any, n: int) -> list[dict[str, list]]:
        """`n` single-row requests cycling over the rows of DataFrame `frame`, as plain columns."""
        names = [*self.numeric, *self.categorical]
        records = frame[names].head(n).to_dict("records")
        return [{name: [records[i % len(records)][name]] for name in names} for i in range(n)]

    def encode(self, columns: Mapping[str, Sequence[Any]], rows: int) -> np.ndarray | None:
        """The preprocessed matrix of plainly typed columns (numbers, strings), `rows` long.

        None when a number is not finite (too large, inf, NaN): the generic path decides those.
        """
        out = np.zeros((rows, self.width), dtype=np.float64)
        k = len(self.numeric)
        if k:
            values = np.empty((rows, k), dtype=np.float64)
            try:
                for j, name in enumerate(self.numeric):
                    values[:, j] = columns[name]
            except OverflowError:
                return None
            if not np.isfinite(values).all():
                return None
            if self.means is not None:
                values -= self.means
            if self.scales is not None:
                values /= self.scales
            out[:, :k] = values
        if self.encoding == ORDINAL:
            for j, (name, index) in enumerate(zip(self.categorical, self.categories, strict=True)):
                out[:, k + j] = [index.get(value, math.nan) for value in columns[name]]  # unseen: NaN
            return out
        offset = k
        for name, index, unknown, width in zip(
            self.categorical, self.categories, self.unknown, self.widths, strict=True
        ):
            for row, value in enumerate(columns[name]):
                position = index.get(value, unknown)
                if position is not None:  # unseen with no infrequent column: all zeros
                    out[row, offset + position] = 1.0
            offset += width
        return out


def _compile(model: Any) -> CompiledPipeline | None:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    if type(model) is not Pipeline or [n for n, _ in model.steps] != ["preprocess", "model"]:
        return None
    pre, estimator = model.steps[0][1], model.steps[1][1]
    if type(pre) is not ColumnTransformer or pre.sparse_output_ or pre.remainder != "drop":
        return None
    fitted = [(n, t, list(c)) for n, t, c in pre.transformers_ if n != "remainder"]
    if [n for n, _, _ in fitted] != ["numeric", "categorical"]:
        return None
    (_, num, numeric), (_, cat, categorical) = fitted
    if not (numeric or categorical):
        return None
    medians = means = scales = None
    if numeric:
        imputer, scaler = num.named_steps["impute"], num.named_steps["scale"]
        if type(imputer) is not SimpleImputer or type(scaler) is not StandardScaler:
            return None
        if imputer.strategy != "median" or imputer.add_indicator:
            return None
        medians = np.asarray(imputer.statistics_, dtype=np.float64)
        if medians.shape != (len(numeric),) or np.isnan(medians).any():  # a dropped empty column
            return None
        means = None if scaler.mean_ is None else np.asarray(scaler.mean_, dtype=np.float64)
        scales = None if scaler.scale_ is None else np.asarray(scaler.scale_, dtype=np.float64)
    encoding, categories, unknown, widths = ONEHOT, [], (), ()
    if categorical:
        found = _categorical(cat)
        if found is None:
            return None
        encoding, categories, unknown, widths = found
    width = len(numeric) + (len(categories) if encoding == ORDINAL else sum(widths))
    if getattr(estimator, "n_features_in_", width) != width:
        return None
    return CompiledPipeline(
        numeric=numeric,
        categorical=categorical,
        medians=medians if medians is not None else np.empty(0),
        means=means,
        scales=scales,
        categories=categories,
        width=width,
        estimator=estimator,
        proba_gives_predict=type(estimator).__name__ in ARGMAX_CLASSIFIERS,
        encoding=encoding,
        unknown=unknown,
        widths=widths,
    )


def _categorical(cat: Any) -> tuple[str, list[dict[str, int]], tuple, tuple] | None:
    """(encoding, value -> position per column, unseen position per column, block widths)."""
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

    if type(cat) is not Pipeline or [n for n, _ in cat.steps] not in (
        ["impute", "onehot"],
        ["impute", "ordinal"],
    ):
        return None
    imputer, encoder = cat.steps[0][1], cat.steps[1][1]
    if type(imputer) is not SimpleImputer or imputer.strategy != "constant" or imputer.add_indicator:
        return None
    if np.dtype(encoder.dtype) != np.float64:
        return None
    if not all(isinstance(v, str) for values in encoder.categories_ for v in values):
        return None
    infrequent = getattr(encoder, "infrequent_categories_", None) or [None] * len(encoder.categories_)
    categories: list[dict[str, int]] = []
    unknown: list[int | None] = []
    widths: list[int] = []
    for values, rare in zip(encoder.categories_, infrequent, strict=True):
        rare_set = set() if rare is None else set(rare)
        frequent = [v for v in values if v not in rare_set]
        index = {v: i for i, v in enumerate(frequent)}
        index.update({v: len(frequent) for v in rare_set})  # the shared infrequent column / code
        categories.append(index)
        widths.append(len(frequent) + (1 if rare_set else 0))
        unknown.append(len(frequent) if rare_set else None)
    if type(encoder) is OneHotEncoder:
        if encoder.drop_idx_ is not None or encoder.handle_unknown not in ("ignore", "infrequent_if_exist"):
            return None
        if encoder.handle_unknown == "ignore":
            unknown = [None] * len(unknown)  # scikit-learn: ignore means zeros, infrequent or not
        encoding = ONEHOT
    elif type(encoder) is OrdinalEncoder:
        if encoder.handle_unknown != "use_encoded_value" or not np.isnan(encoder.unknown_value):
            return None
        encoding = ORDINAL
    else:
        return None
    if not _agrees(encoder, encoding, categories, widths):
        return None
    return encoding, categories, tuple(unknown), tuple(widths)


def _agrees(encoder: Any, encoding: str, categories: list[dict[str, int]], widths: list[int]) -> bool:
    """Whether the mapping reproduces `encoder.transform` on every training category."""
    rows = max(len(c) for c in encoder.categories_)
    probe = np.empty((rows, len(encoder.categories_)), dtype=object)
    for j, values in enumerate(encoder.categories_):
        probe[:, j] = [values[i % len(values)] for i in range(rows)]
    import pandas as pd

    frame = pd.DataFrame(probe, columns=list(getattr(encoder, "feature_names_in_", range(probe.shape[1]))))
    expected = np.asarray(encoder.transform(frame if hasattr(encoder, "feature_names_in_") else probe))
    if encoding == ORDINAL:
        mine = np.array([[categories[j][v] for j, v in enumerate(row)] for row in probe], dtype=np.float64)
    else:
        mine = np.zeros((rows, sum(widths)))
        offsets = np.cumsum([0, *widths[:-1]])
        for r, row in enumerate(probe):
            for j, v in enumerate(row):
                mine[r, offsets[j] + categories[j][v]] = 1.0
    return expected.shape == mine.shape and np.array_equal(expected, mine)


def plain_columns(
    inputs: Sequence[Any], numeric: set[str], categorical: set[str], max_rows: int
) -> tuple[dict[str, list], int] | None:
    """Named V2 inputs as plain columns, or None unless the request is the simple, valid case.

    The simple case: exactly one `[rows]` or `[rows, 1]` input per model column, a known
    datatype, no binary data, numbers (int or float, not bool) for numeric columns and strings for
    the others, one length, at most `max_rows` rows. Everything else (and every error) takes the
    generic path, which gives the same answers and the same error messages.
    """
    expected = len(numeric) + len(categorical)
    if len(inputs) != expected:
        return None
    columns: dict[str, list] = {}
    rows = -1
    for item in inputs:
        name, data, shape = item.name, item.data, item.shape
        if getattr(item, "_raw_data", None) is not None or name in columns or type(data) is not list:
            return None
        if item.datatype not in DATATYPES or not all(type(d) is int for d in shape):
            return None
        if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1):
            return None
        if math.prod(shape) != len(data) or (rows >= 0 and len(data) != rows):
            return None
        rows = len(data)
        if name in numeric:
            if not all(type(v) is float or type(v) is int for v in data):
                return None
        elif name in categorical:
            if not all(type(v) is str for v in data):
                return None
        else:
            return None
        columns[name] = data
    if not 0 < rows <= max_rows:
        return None
    return columns, rows
