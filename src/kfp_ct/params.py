"""Parameter parsing: JSON-object parameters, and `--param key=value` typed by the pipeline.

`parse_params` is the one `--param` parser: `kfp-ct run`, `submit` and `schedule` all use it, so
they accept and reject the same input with the same message. This module imports no other
package of kfp_ct (every layer uses `json_object`); the types come from the caller.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from kfp_ct.errors import ParameterError

_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}
_EXPECTED = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    list: "a JSON list",
    dict: "a JSON object",
}


def json_object(text: str | None, what: str) -> dict[str, Any]:
    """Parse a parameter holding a JSON object; empty text gives {}. Errors name `what`."""
    if not text or not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParameterError(f"{what}: not valid JSON ({exc}): {text!r}") from None
    if not isinstance(value, dict):
        raise ParameterError(f"{what}: must be a JSON object, got {text!r}")
    return value


def _convert(key: str, raw: str, annotation: Any) -> Any:
    if annotation is bool:
        if raw.lower() in _TRUE | _FALSE:
            return raw.lower() in _TRUE
    elif annotation in (int, float):
        try:
            return annotation(raw)
        except ValueError:
            pass
    elif annotation in (list, dict):
        try:
            value = json.loads(raw)
        except ValueError:
            value = None
        if isinstance(value, annotation):
            return value
    else:
        return raw
    raise ParameterError(f"--param {key}={raw!r}: expected {_EXPECTED[annotation]}")


def _unknown(key: str, pipeline: str, known: Iterable[str]) -> ParameterError:
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ParameterError(
        f"--param {key}: pipeline '{pipeline}' has no such parameter{hint}; known: {sorted(known)}"
    )


def parse_params(pairs: Iterable[str] | None, pipeline: str, types: Mapping[str, type]) -> dict[str, Any]:
    """Turn ['k=v', ...] into typed arguments of `pipeline`; bad pairs, keys and values raise.

    Args:
        pairs: The `--param` values, each `key=value` (the value may contain `=`).
        pipeline: The pipeline's name, for messages.
        types: Its parameter name -> Python type, e.g. `kfp_ct.pipelines.parameter_types(name)`.
    """
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ParameterError(f"--param {pair!r}: expected key=value, e.g. --param seed=7")
        if key not in types:
            raise _unknown(key, pipeline, types)
        out[key] = _convert(key, raw, types[key])
    return out
