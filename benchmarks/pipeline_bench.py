"""Pipeline overhead: `kfp-ct run` (six step subprocesses) vs the six steps in one process."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, run_child, summary

STEPS = ("validate", "train", "evaluate", "compare", "register", "deploy")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_EVENT = re.compile(r"^(\d\d:\d\d:\d\d\.\d+) - INFO - (?:Executing task '(\w+)'|Task '(\w+)' finished)")


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def step_times(log: str) -> dict[str, float]:
    """Per-task seconds from kfp.local's `Executing task` / `finished` log lines."""
    started: dict[str, datetime] = {}
    out: dict[str, float] = {}
    for line in _ANSI.sub("", log).splitlines():
        match = _EVENT.match(line.strip())
        if not match:
            continue
        stamp = datetime.strptime(match.group(1), "%H:%M:%S.%f")
        if match.group(2):
            started[match.group(2)] = stamp
        elif match.group(3) in started:
            out[match.group(3)] = (stamp - started[match.group(3)]).total_seconds()
    return out


def write_data(path: Path, rows: int) -> None:
    """The default synthetic dataset (what `kfp-ct run` uses when given no data)."""
    from kfp_ct.data.io import write_table
    from kfp_ct.data.synth import SynthSpec, make_dataset

    write_table(make_dataset(SynthSpec(rows=rows)), path)


def source_tree(revision: str, into: Path) -> Path:
    """The `src` folder of git `revision` of this repository, exported under `into` (for PYTHONPATH)."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "archive", revision, "src"], cwd=ROOT, capture_output=True, check=True, timeout=60
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True, timeout=60)
    return into / "src"


def kfp_run(data: Path, home: Path, timeout: float, src: Path | None = None) -> dict[str, Any]:
    """One `kfp-ct run --json` in a fresh home; wall seconds, per-step seconds, the summary.

    `src` runs that source tree instead of this one (steps included: they inherit PYTHONPATH).
    """
    env = {**os.environ, "KFP_CT_HOME": str(home), "KFP_CT_PORT": str(free_port())}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    env.pop("MLFLOW_TRACKING_URI", None)
    cli = [sys.executable, "-c", "from kfp_ct.cli import main; main()"]
    start = time.perf_counter()
    proc = subprocess.run(
        [*cli, "run", "--data", str(data), "--json"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout,
    )  # fmt: skip
    wall = time.perf_counter() - start
    subprocess.run([*cli, "stop"], capture_output=True, env=env, cwd=ROOT, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"kfp-ct run failed: {proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"wall_s": wall, "steps_s": step_times(proc.stderr), "decision": result["decision"]}


def floor_run(data: Path, home: Path, deploy: str, timeout: float, src: Path | None = None) -> dict[str, Any]:
    """One in-process run of the six step functions in a fresh Python and a fresh home."""
    env = {"KFP_CT_HOME": str(home), "KFP_CT_PORT": str(free_port())}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    args = ["benchmarks.pipeline_floor", "--data", str(data), "--work", str(home / "work")]
    result = run_child([*args, "--deploy", deploy], timeout, env)
    wall = result["child_wall_s"] - result["steps_s"].pop("stop_server", 0.0)
    return {"wall_s": wall, "steps_s": result["steps_s"], "decision": result["decision"]}


def bench(
    rows: int, repeats: int, with_kfp: bool, deploy: str = "local", baseline: str | None = None
) -> dict[str, Any]:
    """Alternate floor and `kfp-ct run` runs `repeats` times; summarize walls, ratio and steps.

    `baseline` (a git revision) also runs that revision's code (floor and `kfp-ct run`) in every
    repeat, interleaved with this one's, under `baseline` in the result: before/after side by side.
    """
    trees: dict[str, Path | None] = {"": None}
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
    with tempfile.TemporaryDirectory(prefix="kfp-ct-bench-") as tmp:
        if baseline:
            trees["baseline"] = source_tree(baseline, Path(tmp) / "baseline")
        data = Path(tmp) / "data.csv"
        write_data(data, rows)
        for i in range(repeats):
            for label, src in trees.items():
                done = runs.setdefault(label, {"floor": [], "kfp": []})
                home = Path(tmp) / f"{label or 'this'}-{i}"
                done["floor"].append(floor_run(data, home / "floor", deploy, 300, src))
                if with_kfp:
                    done["kfp"].append(kfp_run(data, home / "kfp", 600, src))
    out: dict[str, Any] = {"rows": rows, "repeats": repeats, "deploy": deploy}
    for label, measured in runs.items():
        part = _summarize(measured)
        if label:
            out[label] = {**part, "revision": baseline}
        else:
            out.update(part)
    return out


def _summarize(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Walls, per-step seconds and the per-repeat ratio of one code version's runs."""
    out: dict[str, Any] = {}
    for kind, results in runs.items():
        if not results:
            continue
        names = [s for s in ("imports", *STEPS) if s in results[0]["steps_s"]]
        out[kind] = {
            "wall_s": summary([r["wall_s"] for r in results]),
            "steps_s": {s: summary([r["steps_s"].get(s, 0.0) for r in results]) for s in names},
            "decision": results[0]["decision"],
        }
    if runs["kfp"]:
        ratios = [k["wall_s"] / f["wall_s"] for k, f in zip(runs["kfp"], runs["floor"], strict=True)]
        out["ratio"] = summary(ratios)
    return out
