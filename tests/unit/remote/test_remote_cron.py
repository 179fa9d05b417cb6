"""Six-field KFP cron validation."""

import pytest

from kfp_ct.errors import ParameterError
from kfp_ct.remote import validate_cron


@pytest.mark.parametrize(
    "expr",
    [
        "0 0 2 * * *",
        "*/30 * * * * *",
        "0 0 9 ? * MON-FRI",
        "0 0 0 1 JAN,jul *",
        "0 15,45 8-18/2 1-15 * 0-6",
        "@daily",
        "@every 1h30m",
    ],
)
def test_valid_expressions(expr):
    assert validate_cron(f"  {expr} ") == expr


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ("0 2 * * *", 'got 5 field(s) (Unix 5-field cron? prefix a seconds field: "0 0 2 * * *")'),
        ("0 0 2 * * * 2026", "got 7 field(s)"),
        ("", "got 0 field(s)"),
        ("60 * * * * *", "second '60' is out of range 0-59"),
        ("0 0 24 * * *", "hour '24' is out of range 0-23"),
        ("0 0 2 0 * *", "day-of-month '0' is out of range 1-31"),
        ("0 0 2 * * 7", "day-of-week '7' is out of range 0-6"),
        ("? * * * * *", "'?' is only allowed in day-of-month or day-of-week"),
        ("0 0 2 * FOO *", "month 'FOO' is not a number"),
        ("0 */0 * * * *", "minute step '0' must be a positive integer"),
        ("0 0 5-2 * * *", "hour range '5-2' runs backwards"),
        ("@fortnightly", "unknown descriptor"),
    ],
)
def test_invalid_expressions_explain_the_format(expr, problem):
    with pytest.raises(ParameterError) as err:
        validate_cron(expr)
    message = str(err.value)
    assert problem in message
    assert "six fields: second minute hour day-of-month month day-of-week" in message
    assert "\n" not in message
