"""Validation of KFP cron expressions (robfig/cron v1: six fields, seconds first)."""

from __future__ import annotations

import re

from kfp_ct.errors import ParameterError

FORMAT_HELP = (
    "KFP cron has six fields: second minute hour day-of-month month day-of-week, "
    'e.g. "0 0 2 * * *" = every day at 02:00:00 UTC'
)
DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
# name, low, high, names accepted in place of numbers (index + low)
_FIELDS = (
    ("second", 0, 59, ()),
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day-of-month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 0, 6, _DAYS),
)
_EVERY = re.compile(r"^@every\s+(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")


def _value(token: str, low: int, names: tuple[str, ...]) -> int | None:
    if token.isdigit():
        return int(token)
    upper = token.upper()
    return names.index(upper) + low if upper in names else None


def _check_field(text: str, name: str, low: int, high: int, names: tuple[str, ...]) -> str | None:
    for part in text.split(","):
        base, _, step = part.partition("/")
        if step and (not step.isdigit() or int(step) == 0):
            return f"{name} step {step!r} must be a positive integer"
        if base in ("*", "?"):
            if base == "?" and name not in ("day-of-month", "day-of-week"):
                return f"'?' is only allowed in day-of-month or day-of-week, not in {name}"
            continue
        start_s, dash, end_s = base.partition("-")
        start = _value(start_s, low, names)
        end = _value(end_s, low, names) if dash else start
        if start is None or end is None:
            return f"{name} {part!r} is not a number, range, list, step, '*' or '?'"
        if not (low <= start <= high and low <= end <= high):
            return f"{name} {part!r} is out of range {low}-{high}"
        if start > end:
            return f"{name} range {base!r} runs backwards"
    return None


def validate_cron(expression: str) -> str:
    """Check a cron expression the way the KFP scheduler will read it; return it normalised.

    Accepts six space-separated fields (second minute hour day-of-month month day-of-week) with
    numbers, names (JAN, MON), ``*``, ``?``, ranges, lists and steps, or a descriptor such as
    ``@daily`` / ``@every 1h30m``. Five-field Unix cron is rejected: KFP would read its first
    field as seconds and run at the wrong times.

    Args:
        expression: the cron expression.

    Returns:
        The expression with whitespace collapsed.

    Raises:
        ParameterError: one line saying what is wrong and showing the expected format.
    """
    text = " ".join(expression.split())
    if text.startswith("@"):
        if text in DESCRIPTORS or _EVERY.match(text):
            return text
        return _fail(text, f"unknown descriptor; use one of {', '.join(DESCRIPTORS)} or @every 1h")
    fields = text.split(" ") if text else []
    if len(fields) != 6:
        hint = f"got {len(fields)} field(s)"
        if len(fields) == 5:
            hint += f' (Unix 5-field cron? prefix a seconds field: "0 {text}")'
        return _fail(text, hint)
    for field_text, (name, low, high, names) in zip(fields, _FIELDS, strict=True):
        problem = _check_field(field_text, name, low, high, names)
        if problem:
            return _fail(text, problem)
    return text


def _fail(text: str, problem: str) -> str:
    raise ParameterError(f"invalid cron {text!r}: {problem}. {FORMAT_HELP}")
