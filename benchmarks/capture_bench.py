"""Capture and monitoring: `python -m benchmarks.capture_bench [--size tiny|full]`.

- Served single-row V2 p50 with capture on and off: two servers of the project's (`python -m
  kfp_ct.serving`, one worker each, one with capture off and one on) run at once on one version.
  Each round sends a block of sequential requests on one keep-alive connection
  (`serving_bench.sequential`) to one server and then the other, then a bounded load of 8
  connections (`serving_bench.loaded`) to one and then the other, with the server's CPU per
  request (its process tree, the writer thread included). The order alternates between rounds, so
  drift of this shared machine falls on both; the throughput drop is the median of the rounds'
  paired drops (1 - on/off of two loads run back to back).
- Monitoring on N captured rows x 20 features: the captured rows written through the capture
  store by one child process, then `kfp_ct.steps.monitor`'s reading and checks (read_capture,
  request_stats, data_quality, detect_drift against a 20,000-row reference) timed in another,
  with that process's peak RSS.
  The MLflow champion look-up and the Evidently HTML are not in the figure (no registry here).

Prints one JSON object; goals: p50 delta <= 0.2 ms, throughput drop <= 5 %, monitor at 1M rows <= 10 s.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np

from benchmarks.common import peak_rss_mib, run_child
from benchmarks.pipeline_bench import free_port
from benchmarks.serving_bench import NAME, loaded, project_server, sequential, stop, train_version, wait_ready

SIZES = {
    "full": {"n": 3000, "rounds": 12, "load": 1000, "rows": 1_000_000},
    "tiny": {"n": 100, "rounds": 2, "load": 200, "rows": 20_000},
}
FEATURES = 20


def _server(tmp: Path, mode: str) -> tuple[Any, str]:
    """Start the project's server on the bench model with capture `mode` (off/on); (process, base URL)."""
    env = {"KFP_CT_CAPTURE": mode, "KFP_CT_CAPTURE_URI": str(tmp / f"capture-{mode}")}
    port = free_port()
    with mock.patch.dict(os.environ, env):
        proc = project_server(tmp / "model", port, free_port(), 1, tmp / f"server-{mode}.log")
    return proc, f"http://127.0.0.1:{port}"


def latency(n: int, rounds: int, load_n: int) -> dict[str, Any]:
    """Sequential p50 (ms) and loaded throughput (8 connections), capture off and on, paired in time.

    Both servers run at once; each round sends a block of sequential requests to one and then the
    other, then a bounded load to one and then the other, so both see the same state of the machine.
    """
    import orjson

    from kfp_ct.serving.protocol import frame_to_v2_request

    tmp = Path(tempfile.mkdtemp(prefix="kfp-ct-capture-bench-"))
    _, x = train_version(tmp / "model")
    bodies = [orjson.dumps(frame_to_v2_request(x.iloc[[i]])) for i in range(200)]
    bodies_file = tmp / "bodies.json"
    bodies_file.write_text(json.dumps([b.decode() for b in bodies]))
    servers = {mode: _server(tmp, mode) for mode in ("off", "on")}
    path = f"/v2/models/{NAME}/infer"
    times: dict[str, list[float]] = {"off": [], "on": []}
    p50s: dict[str, list[float]] = {"off": [], "on": []}
    rps: dict[str, list[float]] = {"off": [], "on": []}
    cpu: dict[str, list[float]] = {"off": [], "on": []}
    try:
        for proc, base in servers.values():
            wait_ready(base, f"/v2/models/{NAME}/ready", proc=proc)
        for r in range(rounds):
            order = ("off", "on") if r % 2 == 0 else ("on", "off")
            for mode in order:
                block = sequential(servers[mode][1], path, bodies, n // rounds)
                times[mode] += block
                p50s[mode].append(round(float(np.median(block)), 3))
            for mode in order:
                proc, base = servers[mode]
                result = loaded(base, path, bodies_file, load_n, 8, cap_s=120, server=proc.pid)
                rps[mode].append(round(result["rps"], 1))
                cpu[mode].append(round(result["server_cpu_ms_per_request"], 4))
    finally:
        for proc, _ in servers.values():
            stop(proc)
    off, on = float(np.median(times["off"])), float(np.median(times["on"]))
    paired = [1 - on_ / off_ for off_, on_ in zip(rps["off"], rps["on"], strict=True)]
    return {"p50_off_ms": round(off, 3), "p50_on_ms": round(on, 3), "delta_ms": round(on - off, 3),
            "p50_rounds": p50s, "requests_per_mode": len(times["off"]),
            "rps_off": float(np.median(rps["off"])), "rps_on": float(np.median(rps["on"])),
            "throughput_drop": round(float(np.median(paired)), 4),
            "paired_drops": [round(d, 4) for d in paired], "rps_rounds": rps,
            "server_cpu_ms_per_request_off": round(float(np.median(cpu["off"])), 4),
            "server_cpu_ms_per_request_on": round(float(np.median(cpu["on"])), 4), "cpu_rounds": cpu,
            "load_requests_per_round": load_n}  # fmt: skip


def _reference() -> Any:
    import pandas as pd

    rng = np.random.default_rng(0)
    reference = pd.DataFrame(rng.normal(size=(20_000, FEATURES)), columns=[f"f{i}" for i in range(FEATURES)])
    reference["f19"] = rng.choice(["a", "b", "c"], 20_000)
    return reference


def write_child(root: str, rows: int) -> None:
    """Write `rows` captured rows x 20 features into the capture store at `root`."""
    import pandas as pd

    from kfp_ct.capture import store

    rng = np.random.default_rng(1)
    cols = [f"f{i}" for i in range(FEATURES)]
    now = pd.Timestamp.now(tz="UTC")
    chunk = 200_000
    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        frame = pd.DataFrame(rng.normal(0.05, 1, size=(n, FEATURES)), columns=cols)
        frame["f19"] = rng.choice(["a", "b", "c", "d"], n)
        frame[store.REQUEST_ID] = [f"r{start + i}" for i in range(n)]
        frame[store.ROW] = np.zeros(n, dtype="int32")
        frame[store.TIME] = now - pd.to_timedelta(rng.uniform(0, 3000, n), unit="s")
        frame[store.MODEL], frame[store.VERSION], frame[store.PROTOCOL] = NAME, "1", "v2"
        frame[store.STATUS] = np.full(n, 200, dtype="int32")
        frame[store.LATENCY_MS] = rng.gamma(2, 1, n)
        frame[store.PREDICTION] = rng.integers(0, 2, n)
        store.write_rows(root, NAME, frame)
    print(json.dumps({"rows": rows}))


def monitor_child(root: str) -> None:
    """Time the monitor's reading and checks on the captured rows at `root` (its own process)."""
    from kfp_ct.capture import store
    from kfp_ct.drift import detect_drift
    from kfp_ct.steps.monitor import data_quality, request_stats

    reference = _reference()
    cols = list(reference.columns)
    started = time.perf_counter()
    captured = store.read_capture(root, NAME)
    read_s = time.perf_counter() - started
    stats = request_stats(captured)
    quality = data_quality(captured, reference, cols)
    report = detect_drift(reference, captured[cols], features=cols)
    total = time.perf_counter() - started
    print(json.dumps({"rows": len(captured), "features": FEATURES, "read_s": round(read_s, 3),
                      "total_s": round(total, 3), "peak_rss_mib": round(peak_rss_mib(), 1),
                      "drift_share": report.share_drifted, "requests": stats["count"],
                      "unseen_f19": quality["unseen_category_rates"]["f19"]}))  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run both measurements; print one JSON object."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.capture_bench")
    parser.add_argument("--size", choices=tuple(SIZES), default="full")
    parser.add_argument("--write-child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--monitor-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.write_child:
        write_child(args.write_child[0], int(args.write_child[1]))
        return 0
    if args.monitor_child:
        monitor_child(args.monitor_child)
        return 0
    cfg = SIZES[args.size]
    out: dict[str, Any] = {"capture_latency": latency(cfg["n"], cfg["rounds"], cfg["load"])}
    root = tempfile.mkdtemp(prefix="kfp-ct-monitor-bench-")
    run_child(["benchmarks.capture_bench", "--write-child", root, str(cfg["rows"])], timeout=900)
    child = run_child(["benchmarks.capture_bench", "--monitor-child", root], timeout=900)
    child.pop("stderr_tail", None)
    out["monitor"] = child
    out["goals"] = {
        "capture_p50_delta_le_0.2ms": out["capture_latency"]["delta_ms"] <= 0.2,
        "capture_throughput_drop_le_5pct": out["capture_latency"]["throughput_drop"] <= 0.05,
        "monitor_le_10s": child.get("total_s", 1e9) <= 10 if cfg["rows"] >= 1_000_000 else None,
    }
    print(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
