"""Logging for pipeline steps: one clear line per event, prefixed with the step name.

`step_context` also prints one marker line when a step fails, which `kfp-ct run` picks out of
the task output to say which step failed and why without a traceback hunt. It also makes the
step's process exit fast (`freeze_heap_at_exit`).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
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


_FREEZE_REGISTERED = False


def freeze_heap_at_exit() -> None:
    """At interpreter exit, move every live object out of the garbage collector's reach.

    A step process ends holding the heap of pandas, scikit-learn and MLflow; the final
    collections over it took 1-2 s per step. `gc.freeze()` from an `atexit` hook (registered
    after the imports, so it runs before their own hooks) skips them; nothing is lost, the
    process is ending. Idempotent; a long-lived process that calls it keeps collecting until exit.
    """
    global _FREEZE_REGISTERED
    if not _FREEZE_REGISTERED:
        atexit.register(gc.freeze)
        _FREEZE_REGISTERED = True


@contextlib.contextmanager
def step_context(step: str) -> Iterator[None]:
    """Set up logging for `step` and a fast exit; on failure print the marker line and re-raise."""
    setup_step_logging(step)
    freeze_heap_at_exit()
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
