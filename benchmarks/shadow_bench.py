"""Shadow routing's cost to the champion: `python -m benchmarks.shadow_bench [--size tiny|full]`.

One project server (`python -m kfp_ct.serving --model_repository`, one worker, capture on) holds
two versions; rounds alternate its route between `single` (v1 answers) and `shadow` (v1 answers,
v2 scores a copy of each request on the server's shadow thread), switched by rewriting the
deployment spec and asking the server to reload, so both modes share the process and the
machine's drift. Each round is `serving_bench.sequential`: single-row V2 requests one after
another on one keep-alive connection, at two paces:

- `paced`, the goal: one request every `PACE_MS` (a server with spare capacity; the copy of a
  request is scored before the next one arrives). Goal: p50 difference <= 0.3 ms (the median
  of the differences between adjacent single and shadow rounds).
- `back_to_back`: each request sent as soon as the previous answer arrived (a saturated server).
  The copy competes with the next answer for the CPU and the GIL, so this difference is the
  price of shadowing at saturation (reported, no goal); the bounded queue drops copies rather
  than let it grow.

Also reported: the shadow rows the server captured (the copies were really scored).

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.pipeline_bench import free_port
from benchmarks.serving_bench import NAME, sequential, start, stop, train_version, wait_ready

SIZES = {"full": {"n": 500, "rounds": 8}, "tiny": {"n": 100, "rounds": 6}}  # full: 8 rounds, ~4 min
GOAL_MS = 0.3
PACE_MS = 10.0


def route(base: str, repository: Path, models: dict[str, Path], shadow: bool) -> None:
    """Route `NAME` to v1 alone, or v1 with v2 as its shadow; wait until the server holds it."""
    import httpx

    from kfp_ct.serving.spec import DeploymentSpec, write_spec

    spec = DeploymentSpec(NAME, {v: str(d) for v, d in models.items()})
    write_spec(repository, spec.shadowed("1", "2") if shadow else spec.routed_to("1", {"2"}))
    httpx.post(f"{base}/v2/repository/models/{NAME}/load", timeout=120, trust_env=False).raise_for_status()


def shadow_rows(capture: Path) -> int:
    """Captured rows of shadow copies (after the server flushed)."""
    from kfp_ct.capture import store

    frame = store.read_capture(str(capture), NAME)
    return int(store.is_shadow(frame).sum()) if not frame.empty else 0


def settled(count: Any, timeout_s: float = 60.0) -> int:
    """`count()` once it stopped growing (the shadow thread and the capture writer caught up)."""
    before, deadline = -1, time.monotonic() + timeout_s
    while (now := count()) != before and time.monotonic() < deadline:
        before = now
        time.sleep(2.0)
    return now


def measure(n: int, rounds: int) -> dict[str, Any]:
    """Sequential p50 (ms) of the champion's answers under single and shadow routing, alternating."""
    import os

    import orjson

    from kfp_ct.serving.protocol import frame_to_v2_request

    tmp = Path(tempfile.mkdtemp(prefix="kfp-ct-shadow-bench-"))
    models = {"1": tmp / "models" / "1", "2": tmp / "models" / "2"}
    _, x = train_version(models["1"], seed=42)
    train_version(models["2"], seed=7)
    bodies = [orjson.dumps(frame_to_v2_request(x.iloc[[i]])) for i in range(200)]
    repository, capture, port = tmp / "repository", tmp / "capture", free_port()
    os.environ["KFP_CT_CAPTURE_URI"] = str(capture)
    route_base = f"http://127.0.0.1:{port}"
    from kfp_ct.serving.spec import DeploymentSpec, write_spec

    write_spec(repository, DeploymentSpec(NAME, {v: str(d) for v, d in models.items()}).routed_to("1", {"2"}))
    proc = start(
        [sys.executable, "-m", "kfp_ct.serving", f"--model_repository={repository}", f"--http_port={port}",
         "--enable_grpc=false"],
        tmp / "server.log",
    )  # fmt: skip
    path = f"/v2/models/{NAME}/infer"
    out: dict[str, Any] = {"requests_per_round": n, "rounds": rounds, "pace_ms": PACE_MS}
    try:
        wait_ready(route_base, f"/v2/models/{NAME}/ready", proc=proc)
        for pace, pace_ms in (("paced", PACE_MS), ("back_to_back", 0.0)):
            runs: dict[str, list[float]] = {"single": [], "shadow": []}
            for _ in range(rounds):
                for mode in ("single", "shadow"):
                    route(route_base, repository, models, shadow=mode == "shadow")
                    runs[mode].append(float(np.median(sequential(route_base, path, bodies, n, pace_ms))))
            single, shadow = float(np.median(runs["single"])), float(np.median(runs["shadow"]))
            paired = np.median(np.subtract(runs["shadow"], runs["single"]))  # adjacent rounds share drift
            out[pace] = {"p50_single_ms": round(single, 3), "p50_shadow_ms": round(shadow, 3),
                         "delta_ms": round(float(paired), 3), "rounds": runs}  # fmt: skip
        out["shadow_rows_captured"] = settled(lambda: shadow_rows(capture))
        out["shadow_requests_sent"] = 2 * (n + 10) * rounds
    finally:
        stop(proc)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the measurement; print one JSON object."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.shadow_bench")
    parser.add_argument("--size", choices=tuple(SIZES), default="full")
    args = parser.parse_args(argv)
    out: dict[str, Any] = {"size": args.size, "shadow_latency": measure(**SIZES[args.size])}
    out["goals"] = {"shadow_p50_delta_le_0.3ms": out["shadow_latency"]["paced"]["delta_ms"] <= GOAL_MS}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
