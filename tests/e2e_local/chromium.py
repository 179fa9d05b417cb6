"""Open an HTML file in Debian's headless Chromium: a screenshot and the browser's console errors."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
]
# Chromium logs page console messages as `INFO:CONSOLE(line)] "text", source: ...`.
CONSOLE = re.compile(r":CONSOLE\(\d+\)\] \"(?P<text>.*)\", source: (?P<source>.*)")


@dataclass
class Opened:
    screenshot: Path
    console: list[str]  # every console message the page produced
    errors: list[str]  # uncaught errors, failed loads and console errors


def needs_chromium():
    return pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (make tools installs it)"
    )


def open_page(page: Path, work: Path, size: str = "1280,2000") -> Opened:
    shot = work / f"{page.stem}.png"
    proc = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={work / 'profile'}", f"--screenshot={shot}",
         f"--window-size={size}", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [m["text"] for m in map(CONSOLE.search, proc.stderr.splitlines()) if m]
    errors = [
        line
        for line in proc.stderr.splitlines()
        if "Uncaught" in line
        or "ERR_" in line  # a resource that failed to load (net::ERR_...)
        or (CONSOLE.search(line) and ("ERROR" in line.split(":CONSOLE")[0] or "error" in line.lower()))
    ]
    return Opened(shot, console, errors)
