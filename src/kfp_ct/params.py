"""`--param key=value` parsing, typed by the pipeline's own parameter annotations."""

from __future__ import annotations

import inspect
import json
from typing import Any

from kfp_ct.errors import ParameterError

_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


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


def pipeline_parameters(name: str) -> dict[str, inspect.Parameter]:
    """Parameter name -> signature entry of pipeline `name`."""
    from kfp_ct.pipelines import get_pipeline

    func = get_pipeline(name).pipeline_func
    return dict(inspect.signature(func).parameters)


def _convert(key: str, raw: str, annotation: Any) -> Any:
    try:
        if annotation is bool:
            if raw.lower() not in _TRUE | _FALSE:
                raise ValueError("expected true or false")
            return raw.lower() in _TRUE
        if annotation is int:
            return int(raw)
        if annotation is float:
            return float(raw)
    except ValueError as exc:
        raise ParameterError(f"--param {key}={raw!r}: {exc}") from None
    return raw


def parse_params(pairs: list[str], pipeline: str) -> dict[str, Any]:
    """Turn ['k=v', ...] into typed arguments of `pipeline`; unknown keys raise."""
    known = pipeline_parameters(pipeline)
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ParameterError(f"--param {pair!r}: use key=value")
        if key not in known:
            raise ParameterError(
                f"--param {key}: pipeline '{pipeline}' has no such parameter; known: {sorted(known)}"
            )
        out[key] = _convert(key, raw, known[key].annotation)
    return out
