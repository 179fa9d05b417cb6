"""Errors meant for the user: the CLI prints their message on one line and exits non-zero."""


class KfpCtError(Exception):
    """Base class for failures with a message that says what is wrong and what to do next."""

    exit_code = 2


class DataError(KfpCtError):
    """An input file cannot be read or does not have the shape the pipeline needs."""


class ParameterError(KfpCtError):
    """A parameter value is unknown, malformed or out of range."""
