"""Serving: the local KServe server on a trained champion vs in-process predict on the same rows.

Latency: sequential V2 requests on one keep-alive loopback connection. Throughput: a bounded
asyncio load generator (`connections` concurrent clients, a fixed request count, a time cap) in
this process, which shares the machine's cores with the server.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import ROOT, summary
from benchmarks.pipeline_bench import free_port


def train_champion(model_dir: Path, rows: int = 5000) -> None:
    """Train the default pipeline on the default synthetic data and save it as an MLflow model."""
    from kfp_ct.core.estimators import DEFAULT_ESTIMATOR
    from kfp_ct.core.schema import infer_schema
    from kfp_ct.core.train import train_model
    from kfp_ct.data.synth import SynthSpec, make_dataset
    from kfp_ct.tracking import models

    frame = make_dataset(SynthSpec(rows=rows))
    result = train_model(frame, infer_schema(frame, "label", "binary"), DEFAULT_ESTIMATOR, {}, 42)
    x = frame[result.features]
    models.save_model(result.model, model_dir, x, result.model.predict(x))


def percentiles(ms: list[float]) -> dict[str, float]:
    """p50 and p99 of latencies in milliseconds."""
    return {"p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99))}


def in_process(model_dir: Path, frames: dict[str, Any], n: int) -> dict[str, Any]:
    """The floors: `model.predict` on DataFrame rows, and the server's compiled fast path."""
    from threadpoolctl import ThreadpoolController

    from kfp_ct.serving.model import SklearnMlflowModel

    served = SklearnMlflowModel("m", model_dir)
    served.load()
    model, out = served.model, {}
    for size, frame in frames.items():
        rows = [frame.iloc[i : i + int(size)] for i in range(0, len(frame) - int(size) + 1, int(size))]
        cases = {
            "dataframe_predict": lambda r: model.predict(r),
            "dataframe_predict_and_proba": lambda r: (model.predict(r), model.predict_proba(r)),
        }
        if served.compiled is not None:
            cols = [{c: r[c].tolist() for c in r.columns} for r in rows]
            compiled = served.compiled
            enc = [compiled.encode(c, len(r)) for c, r in zip(cols, rows, strict=True)]
            cases["compiled_predict_and_proba"] = lambda i, c=compiled, cols=cols, rows=rows: (
                served._run_compiled(c.encode(cols[i], len(rows[i])))
            )
            assert all(e is not None for e in enc)
        for name, fn in cases.items():
            for threads in ("default", "1"):
                ctl = ThreadpoolController()
                limit = ctl.limit(limits=1) if threads == "1" else ctl.limit(limits=None)
                with limit:
                    times = []
                    for k in range(n + 5):
                        arg = k % len(rows) if name.startswith("compiled") else rows[k % len(rows)]
                        start = time.perf_counter()
                        fn(arg)
                        if k >= 5:
                            times.append((time.perf_counter() - start) * 1000)
                out[f"{size}row/{name}/threads={threads}"] = percentiles(times)
    return {"floors_ms": out, "compiled": served.compiled is not None}


def check_fast_path(model_dir: Path, frame: Any) -> bool:
    """The compiled path answers exactly like the DataFrame path on these rows (V2 bodies)."""
    from kserve.protocol.infer_type import InferInput, InferRequest

    from kfp_ct.serving.model import SklearnMlflowModel
    from kfp_ct.serving.protocol import frame_to_v2_request

    served = SklearnMlflowModel("m", model_dir)
    served.load()
    body = frame_to_v2_request(frame, "check")
    request = InferRequest(
        "m",
        [InferInput(i["name"], i["shape"], i["datatype"], i["data"]) for i in body["inputs"]],
        request_id="check",
    )
    fast = served._predict_v2(request).to_rest()
    compiled, served.compiled = served.compiled, None
    generic = served._predict_v2(request).to_rest()
    return compiled is not None and fast == generic


def start_server(model_dir: Path, port: int, workers: int, log: Path) -> subprocess.Popen:
    """Start the model server exactly as deploy target `local` does (plus `--workers`)."""
    cmd = [
        sys.executable, "-m", "kfp_ct.serving", "--model_name=m", f"--model_dir={model_dir}",
        f"--http_port={port}", "--enable_grpc=false", "--enable_latency_logging=false",
        f"--workers={workers}",
    ]  # fmt: skip
    with log.open("ab") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    """Stop the server process group started above."""
    import signal

    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def sequential(url: str, bodies: list[bytes], n: int) -> list[float]:
    """Latencies (ms) of `n` requests one after another on one keep-alive connection."""
    import httpx

    headers = {"content-type": "application/json"}
    times = []
    with httpx.Client(trust_env=False, timeout=10) as client:
        for k in range(n + 10):
            start = time.perf_counter()
            response = client.post(url, content=bodies[k % len(bodies)], headers=headers)
            elapsed = (time.perf_counter() - start) * 1000
            response.raise_for_status()
            if k >= 10:
                times.append(elapsed)
    return times


async def _load(url: str, bodies: list[bytes], total: int, connections: int, cap_s: float) -> dict:
    import httpx

    headers = {"content-type": "application/json"}
    latencies: list[float] = []
    errors = 0
    counter = iter(range(total))
    deadline = time.perf_counter() + cap_s
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(trust_env=False, timeout=10, limits=limits) as client:

        async def worker() -> None:
            nonlocal errors
            for k in counter:
                if time.perf_counter() > deadline:
                    return
                start = time.perf_counter()
                response = await client.post(url, content=bodies[k % len(bodies)], headers=headers)
                latencies.append((time.perf_counter() - start) * 1000)
                errors += response.status_code != 200

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - start
    return {"requests": len(latencies), "errors": errors, "seconds": elapsed,
            "rps": len(latencies) / elapsed, **percentiles(latencies)}  # fmt: skip


def wait_ready(base: str, timeout: float = 120) -> float:
    """Seconds until the server's model is ready."""
    import httpx

    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        try:
            if httpx.get(f"{base}/v2/models/m/ready", trust_env=False, timeout=2).status_code == 200:
                return time.perf_counter() - start
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"server at {base} not ready after {timeout} s")


def bench(
    n_latency: int, n_load: int, rounds: int, connections: int, workers: tuple[int, ...], train_rows: int
) -> dict:
    """Floors in-process, then per worker count: startup, sequential latency and loaded throughput."""
    from kfp_ct.data.synth import SynthSpec, make_dataset
    from kfp_ct.serving.protocol import frame_to_v2_request

    out: dict[str, Any] = {"connections": connections, "rounds": rounds, "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="kfp-ct-serve-") as tmp:
        model_dir = Path(tmp) / "model"
        train_champion(model_dir, train_rows)
        rows = make_dataset(SynthSpec(rows=1000, seed=7)).drop(columns=["label"])
        out["fast_path_identical"] = check_fast_path(model_dir, rows.head(100))
        frames = {"1": rows.head(200), "100": rows}
        out.update(in_process(model_dir, frames, n_latency))
        bodies = {
            "1": [json.dumps(frame_to_v2_request(rows.iloc[[i]], f"r{i}")).encode() for i in range(200)],
            "100": [
                json.dumps(frame_to_v2_request(rows.iloc[i : i + 100], f"b{i}")).encode()
                for i in range(0, 1000, 100)
            ],
        }
        for w in workers:
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            proc = start_server(model_dir, port, w, Path(tmp) / f"server-{w}.log")
            try:
                key = f"workers={w}"
                out[key] = {"startup_s": wait_ready(base)}
                url = f"{base}/v2/models/m/infer"
                for size in ("1", "100"):
                    lat, load = [], []
                    n_seq = n_latency if size == "1" else max(n_latency // 4, 10)
                    n_total = n_load if size == "1" else max(n_load // 5, 20)
                    for _ in range(rounds):
                        lat.append(percentiles(sequential(url, bodies[size], n_seq)))
                        load.append(asyncio.run(_load(url, bodies[size], n_total, connections, 60)))
                    out[key][f"{size}row"] = {
                        "sequential_p50_ms": summary([x["p50"] for x in lat]),
                        "sequential_p99_ms": summary([x["p99"] for x in lat]),
                        "loaded_rps": summary([x["rps"] for x in load]),
                        "loaded_p50_ms": summary([x["p50"] for x in load]),
                        "loaded_p99_ms": summary([x["p99"] for x in load]),
                        "errors": sum(x["errors"] for x in load),
                        "requests_per_round": n_total,
                        "sequential_requests_per_round": n_seq,
                    }
            finally:
                stop(proc)
    return out
