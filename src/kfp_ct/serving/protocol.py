"""Encode and decode V1/V2 inference payloads to and from pandas DataFrames.

V2 carries one input per column (input name = column name, like MLServer's pandas codec), so rows
that mix numbers and strings need no client-side encoding. An all-numeric model also accepts a
single `[rows, features]` tensor in signature order. Decoding errors raise `PayloadError` with a
message naming the input, which the server returns as HTTP 400. Light: no kserve import.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from kfp_ct.errors import PayloadError

NUMERIC_DATATYPES = {
    "BOOL", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64",
    "FP16", "FP32", "FP64",
}  # fmt: skip
DATATYPES = NUMERIC_DATATYPES | {"BYTES"}
MAX_ROWS = 10_000  # rows in one request; more is refused before any decoding work
PREDICT_OUTPUT = "predict"
PROBA_OUTPUT = "predict_proba"
VERSION_HEADER = "x-model-version"  # names the version that answered, on every inference response
BINARY_HEADER = "inference-header-content-length"  # the V2 binary extension's JSON length
# MLflow signature column types -> V2 datatypes (model metadata; the codec accepts any numeric type)
SIGNATURE_DATATYPES = {
    "double": "FP64", "float": "FP32", "long": "INT64", "integer": "INT32", "boolean": "BOOL",
    "string": "BYTES", "binary": "BYTES",
}  # fmt: skip


@dataclass(frozen=True)
class FeatureSpec:
    """A model input column: its name, whether it is numeric, and its V2 datatype."""

    name: str
    numeric: bool
    datatype: str = "FP64"


def v2_datatype(series: pd.Series) -> str:
    """The V2 datatype for a pandas column."""
    if pd.api.types.is_bool_dtype(series):
        return "BOOL"
    if pd.api.types.is_integer_dtype(series):
        return "INT64"
    if pd.api.types.is_float_dtype(series):
        return "FP64"
    return "BYTES"


def _json_value(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def frame_to_v2_request(frame: pd.DataFrame, request_id: str | None = None) -> dict[str, Any]:
    """Build a V2 request body with one input per column."""
    inputs = [
        {
            "name": str(column),
            "shape": [len(frame)],
            "datatype": v2_datatype(frame[column]),
            "data": [_json_value(v) for v in frame[column].tolist()],
        }
        for column in frame.columns
    ]
    body: dict[str, Any] = {"inputs": inputs}
    if request_id:
        body["id"] = request_id
    return body


def frame_to_v1_request(frame: pd.DataFrame) -> dict[str, Any]:
    """Build a V1 request body: one record (column -> value) per instance."""
    records = [{str(k): _json_value(v) for k, v in row.items()} for row in frame.to_dict("records")]
    return {"instances": records}


def _check_rows(rows: int) -> None:
    if rows > MAX_ROWS:
        raise PayloadError(f"{rows} rows in one request; the limit is {MAX_ROWS}")


def _column(name: str, values: Sequence[Any], numeric: bool) -> pd.Series:
    if numeric:
        try:
            column = pd.to_numeric(pd.Series(values, dtype="object"), errors="raise").astype("float64")
        except (TypeError, ValueError, OverflowError) as exc:
            raise PayloadError(f"input '{name}': expected numbers, got {exc}") from None
        if np.isinf(column.to_numpy()).any():
            raise PayloadError(f"input '{name}': infinite values are not accepted (send null if unknown)")
        return column
    bad = next((v for v in values if isinstance(v, Mapping | list)), None)
    if bad is not None:
        raise PayloadError(f"input '{name}': expected strings, got {type(bad).__name__} {str(bad)[:40]}")
    return pd.Series(
        [v.decode("utf-8") if isinstance(v, bytes | bytearray) else v for v in values],
        dtype="object",
    )


def frame_from_columns(columns: Mapping[str, Sequence[Any]], features: Sequence[FeatureSpec]) -> pd.DataFrame:
    """Assemble a DataFrame in model order from named columns, checking names and lengths."""
    expected = [f.name for f in features]
    missing = [n for n in expected if n not in columns]
    unknown = [n for n in columns if n not in expected]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing inputs {missing}")
        if unknown:
            parts.append(f"unknown inputs {unknown}")
        raise PayloadError("; ".join(parts) + f"; the model expects {expected}")
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        raise PayloadError(f"inputs have different lengths: {lengths}")
    return pd.DataFrame({f.name: _column(f.name, columns[f.name], f.numeric) for f in features})


def _flatten(data: Any) -> list:
    array = np.asarray(data, dtype=object)
    return array.reshape(-1).tolist()


def v2_inputs_to_frame(inputs: Sequence[Mapping[str, Any]], features: Sequence[FeatureSpec]) -> pd.DataFrame:
    """Decode V2 inputs (dicts with name, shape, datatype, data) into a model-ready frame."""
    if not isinstance(inputs, list | tuple) or not inputs:
        raise PayloadError("'inputs' must be a non-empty list")
    for item in inputs:
        if not isinstance(item, Mapping) or not {"name", "shape", "datatype", "data"} <= set(item):
            raise PayloadError("each input needs 'name', 'shape', 'datatype' and 'data'")
        if item["datatype"] not in DATATYPES:
            raise PayloadError(f"input '{item['name']}': unknown datatype {str(item['datatype'])[:40]!r}")
        shape = item["shape"]
        if not isinstance(shape, list | tuple) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise PayloadError(f"input '{item['name']}': shape must be a list of non-negative integers")
        if shape:
            _check_rows(shape[0])
    names = [str(item["name"]) for item in inputs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise PayloadError(f"inputs {dupes} appear more than once")
    if len(inputs) == 1 and len(features) > 1 and len(inputs[0]["shape"]) == 2:
        return _single_tensor_to_frame(inputs[0], features)
    columns: dict[str, list] = {}
    for item in inputs:
        name, shape = str(item["name"]), list(item["shape"])
        values = _flatten(item["data"])
        size = math.prod(shape) if shape else 0
        if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1) or size != len(values):
            raise PayloadError(
                f"input '{name}': shape {shape} does not match {len(values)} values; "
                "send shape [rows] (or [rows, 1]) per column"
            )
        columns[name] = values
    return frame_from_columns(columns, features)


def _single_tensor_to_frame(item: Mapping[str, Any], features: Sequence[FeatureSpec]) -> pd.DataFrame:
    shape = list(item["shape"])
    if not all(f.numeric for f in features):
        raise PayloadError(
            "a single tensor input is accepted only by all-numeric models; send one input per column instead"
        )
    if item["datatype"] not in NUMERIC_DATATYPES:
        raise PayloadError(f"input '{item['name']}': datatype {item['datatype']} is not numeric")
    if shape[1] != len(features):
        raise PayloadError(
            f"input '{item['name']}': shape {shape} has {shape[1]} features, "
            f"the model expects {len(features)}"
        )
    values = _flatten(item["data"])
    if len(values) != shape[0] * shape[1]:
        raise PayloadError(f"input '{item['name']}': shape {shape} != {len(values)} values")
    try:
        matrix = np.asarray(values, dtype="float64").reshape(shape)
    except (TypeError, ValueError) as exc:
        raise PayloadError(f"input '{item['name']}': expected numbers, got {exc}") from None
    return pd.DataFrame(matrix, columns=[f.name for f in features])


def v1_instances_to_frame(instances: Any, features: Sequence[FeatureSpec]) -> pd.DataFrame:
    """Decode V1 instances: records (column -> value) or positional rows in model order."""
    if not isinstance(instances, list) or not instances:
        raise PayloadError("'instances' must be a non-empty list")
    _check_rows(len(instances))
    if all(isinstance(row, Mapping) for row in instances):
        names = {k for row in instances for k in row}
        columns = {n: [row.get(n) for row in instances] for n in names}
        return frame_from_columns(columns, features)
    if all(isinstance(row, list) for row in instances):
        bad = [i for i, row in enumerate(instances) if len(row) != len(features)]
        if bad:
            raise PayloadError(
                f"instance {bad[0]} has {len(instances[bad[0]])} values, "
                f"the model expects {len(features)}: {[f.name for f in features]}"
            )
        columns = {f.name: [row[i] for row in instances] for i, f in enumerate(features)}
        return frame_from_columns(columns, features)
    raise PayloadError("'instances' must be all records (objects) or all lists")


def _fail(message: str) -> None:
    raise PayloadError(message)


def check_v2_request(body: Any, binary: bool = False) -> None:
    """Check the shape of a decoded V2 request body; raise PayloadError naming what is wrong.

    The structure only (types of `id`, `parameters`, `inputs`, `outputs`, and each input's
    `name`, `shape`, `datatype` and `data`) and the row limit, before any tensor is built. With
    the binary extension (`binary`), an input may carry `parameters.binary_data_size` instead
    of `data`. Values are checked later, against the model's columns.
    """
    if not isinstance(body, dict):
        _fail("a V2 request body must be a JSON object with 'inputs'")
    if body.get("id") is not None and not isinstance(body["id"], str):
        _fail("'id' must be a string")
    if body.get("parameters") is not None and not isinstance(body["parameters"], dict):
        _fail("'parameters' must be an object")
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        _fail("'inputs' must be a non-empty list")
    for item in inputs:
        if not isinstance(item, dict) or not {"name", "shape", "datatype"} <= set(item):
            _fail("each input needs 'name', 'shape', 'datatype' and 'data'")
        name, shape, datatype = item["name"], item["shape"], item["datatype"]
        if not isinstance(name, str):
            _fail(f"input name {str(name)[:40]!r} must be a string")
        if not isinstance(datatype, str) or datatype.upper() not in DATATYPES:
            _fail(f"input '{name}': unknown datatype {str(datatype)[:40]!r}")
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
            _fail(f"input '{name}': shape must be a list of non-negative integers")
        if shape:
            _check_rows(shape[0])
        params = item.get("parameters")
        if params is not None and not isinstance(params, dict):
            _fail(f"input '{name}': 'parameters' must be an object")
        if "data" in item:
            if not isinstance(item["data"], list):
                _fail(f"input '{name}': 'data' must be a list")
        elif not (binary and params and isinstance(params.get("binary_data_size"), int)):
            _fail("each input needs 'name', 'shape', 'datatype' and 'data'")
    outputs = body.get("outputs")
    if outputs is not None:
        if not isinstance(outputs, list) or not all(
            isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs
        ):
            _fail("'outputs' must be a list of objects with a 'name'")
        if any(o.get("parameters") is not None and not isinstance(o["parameters"], dict) for o in outputs):
            _fail("an output's 'parameters' must be an object")
