"""What `kfp-ct run` shows while a pipeline runs: one line per step, then the summary.

On a terminal a spinner with the running seconds stands on the step that runs (rich's `Live`);
each finished step leaves one line with its status and seconds, and the first few warnings a
step logs are shown under it. Without a terminal (CI logs, tests) only the finished lines print.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text

from kfp_ct.localrun import StepEvent

MAX_WARNINGS = 3  # per step; the rest are in the run log
MARKS = {
    "succeeded": ("✓", "green"),
    "failed": ("✗", "bold red"),
    "skipped": ("-", "dim"),
}


def step_line(name: str, status: str, seconds: float | None = None) -> Text:
    """`  ✓ train         16.3 s  succeeded`."""
    mark, style = MARKS.get(status, ("·", ""))
    line = Text("  ")
    line.append(mark, style=style)
    line.append(f" {name:<13}")
    line.append(f"{seconds:>7.1f} s  " if seconds is not None else " " * 11)
    line.append(status, style=style)
    return line


class StepDisplay:
    """Listens to the run's step events (`kfp_ct.localrun.StepEvent`) and draws them."""

    def __init__(self, console: Console, live: bool | None = None) -> None:
        self.console = console
        self.live_enabled = console.is_terminal if live is None else live
        self.live: Live | None = None
        self.running: dict[str, tuple[Spinner, float]] = {}
        self.warned: dict[str, list[str]] = {}

    def __enter__(self) -> StepDisplay:
        if self.live_enabled:
            self.live = Live(self, console=self.console, refresh_per_second=8, transient=True)
            self.live.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.stop()

    def __rich__(self) -> Group:
        now = time.monotonic()
        for name, (spinner, started) in self.running.items():
            spinner.update(text=Text(f"{name:<13}{now - started:>7.1f} s  running", style="cyan"))
        return Group(*(spinner for spinner, _ in self.running.values()))

    def __call__(self, event: StepEvent) -> None:
        """Draw one event."""
        if event.kind == "started":
            self.running[event.task] = (Spinner("dots", style="cyan"), event.at)
        elif event.kind == "finished":
            _, started = self.running.pop(event.task, (None, event.at))
            status = "succeeded" if event.status == "SUCCESS" else "failed"
            self.console.print(step_line(event.task, status, event.at - started))
            warned = self.warned.pop(event.task, [])
            for message in warned[:MAX_WARNINGS]:
                self._note(f"! {message}")
            if len(warned) > MAX_WARNINGS:
                self._note(f"! {len(warned) - MAX_WARNINGS} more warning(s) in the run log")
        elif event.kind == "warning":
            self.warned.setdefault(event.task.replace("_", "-"), []).append(event.message)

    def skipped(self, names: list[str]) -> None:
        """Lines for the steps the run did not reach (a rejected challenger is not deployed)."""
        for name in names:
            self.console.print(step_line(name, "skipped"))

    def _note(self, text: str) -> None:
        note = Text("      " + text, style="yellow")
        self.console.print(note, overflow="ellipsis", no_wrap=True, crop=True)
