"""Logging for pipeline steps: one clear line per event, prefixed with the step name.

`step_context` also prints one marker line when a step fails, which `kfp-ct run` picks out of
the task output to say which step failed and why without a traceback hunt.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

FAILURE_MARKER = "kfp-ct step failed:"


def setup_step_logging(step: str, level: int = logging.INFO) -> None:
    """Log `kfp_ct` messages to stderr as `[step] LEVEL message`; quiet noisy libraries."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"[{step}] %(levelname)s %(message)s"))
    root = logging.getLogger("kfp_ct")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    for noisy in ("mlflow", "alembic", "urllib3", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextlib.contextmanager
def step_context(step: str) -> Iterator[None]:
    """Set up logging for `step`; on failure print the marker line with the cause and re-raise."""
    setup_step_logging(step)
    try:
        yield
    except Exception as exc:
        cause = " ".join(str(exc).split()) or type(exc).__name__
        print(f"{FAILURE_MARKER} {step}: {cause}", file=sys.stderr, flush=True)
        raise


def failure_from_output(text: str) -> tuple[str, str] | None:
    """The (step, cause) of the last failure marker in captured task output, if any."""
    for line in reversed(text.splitlines()):
        if FAILURE_MARKER in line:
            step, _, cause = line.split(FAILURE_MARKER, 1)[1].strip().partition(": ")
            return step, cause
    return None
