"""Serving: the project's server against its floors, side by side in one run on one machine.

- In process: the compiled fast path and `model.predict` on the same rows (the best in-process
  paths), and the project's whole V2 codec (`decode_v2` + model + `encode_v2`) with no HTTP.
- Floors over HTTP: a Starlette route answering a constant JSON (the transport), and a bare
  `kserve.ModelServer` with a constant model (KServe's own V2 handling).
- The project's server (`python -m kfp_ct.serving`, as deploy target `local` runs it): REST and
  gRPC with one worker, REST with two workers.
- A redeploy under load: the deploy step (`kfp_ct.steps.deploy.run`, target `local`) of a new
  version while a load generator keeps posting, from "deploy" to "champion moved", with the
  failed requests counted; then a rollback (the previous version again: a swap back).

Latency: sequential requests on one keep-alive connection from a raw-socket client (httpx adds
about 2 ms of its own per request here). Throughput: a bounded asyncio load generator in its own
process (`python -m benchmarks.serving_bench load ...`: fixed request count, time cap, loopback
only), which shares the machine's cores with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import ROOT, summary
from benchmarks.pipeline_bench import free_port

NAME = "m"


# ---------------------------------------------------------------- models
def train_version(model_dir: Path, rows: int = 5000, seed: int = 42):
    """Train the default pipeline on the default synthetic data; save it as an MLflow model."""
    from kfp_ct.core.estimators import DEFAULT_ESTIMATOR
    from kfp_ct.core.schema import infer_schema
    from kfp_ct.core.train import train_model
    from kfp_ct.data.synth import SynthSpec, make_dataset
    from kfp_ct.tracking.models import save_model

    frame = make_dataset(SynthSpec(rows=rows, seed=seed))
    result = train_model(frame, infer_schema(frame, "label", "binary"), DEFAULT_ESTIMATOR, {}, seed)
    x = frame[result.features]
    save_model(result.model, model_dir, x, result.model.predict(x))
    return result.model, x


def percentiles(ms: list[float]) -> dict[str, float]:
    """p50 and p99 of latencies in milliseconds."""
    return {"p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99))}


def _timed(fn, n: int, warmup: int = 5, cap_s: float = 15.0) -> dict[str, float]:
    """p50/p99 of `n` calls (fewer when they pass `cap_s`: OpenMP on a loaded machine can take 1 s a call)."""
    times = []
    deadline = time.perf_counter() + cap_s
    for k in range(n + warmup):
        start = time.perf_counter()
        fn(k)
        if k >= warmup:
            times.append((time.perf_counter() - start) * 1000)
        if time.perf_counter() > deadline and len(times) >= 5:
            break
    return {**percentiles(times), "n": len(times)}


def _cases(served: Any, frame: Any, size: int, bodies: list[bytes]) -> dict[str, Any]:
    """The in-process calls timed for one request size."""
    from kfp_ct.serving.rest import decode_v2, encode_v2

    model = served.model
    rows = [frame.iloc[i : i + size] for i in range(0, len(frame) - size + 1, size)]
    cols = [{c: r[c].tolist() for c in r.columns} for r in rows]

    def codec(k: int) -> Any:
        request = decode_v2(bodies[k % len(bodies)], {}, NAME, None)
        return encode_v2(request, served, served.infer_outputs(request))

    cases = {
        "dataframe_predict": lambda k: model.predict(rows[k % len(rows)]),
        "dataframe_predict_and_proba": lambda k: (
            model.predict(rows[k % len(rows)]),
            model.predict_proba(rows[k % len(rows)]),
        ),
        "project_codec_and_model": codec,
    }
    if served.compiled is not None:
        compiled = served.compiled
        cases["compiled_predict_and_proba"] = lambda k: served._run_compiled(
            compiled.encode(cols[k % len(cols)], size)
        )
    return cases


def in_process(
    model_dir: Path, frames: dict[str, Any], bodies: dict[str, list[bytes]], n: int, cap_s: float = 15.0
) -> dict:
    """The floors in this process: DataFrame predict, the compiled path, the project's codec."""
    from threadpoolctl import ThreadpoolController

    from kfp_ct.serving.model import SklearnMlflowModel

    served = SklearnMlflowModel(NAME, model_dir, "1")
    served.load()
    out = {}
    for size, frame in frames.items():
        for name, fn in _cases(served, frame, int(size), bodies[size]).items():
            for threads in ("default", "1"):
                ctl = ThreadpoolController()
                with ctl.limit(limits=1) if threads == "1" else ctl.limit(limits=None):
                    out[f"{size}row/{name}/threads={threads}"] = _timed(fn, n, cap_s=cap_s)
    return {"floors_ms": out, "compiled": served.compiled is not None}


def check_fast_path(model_dir: Path, frame: Any) -> bool:
    """The compiled path answers exactly like the DataFrame path on these rows (V2 bodies)."""
    from kfp_ct.serving.model import SklearnMlflowModel
    from kfp_ct.serving.protocol import frame_to_v2_request
    from kfp_ct.serving.rest import decode_v2

    served = SklearnMlflowModel(NAME, model_dir, "1")
    served.load()
    request = decode_v2(json.dumps(frame_to_v2_request(frame, "check")).encode(), {}, NAME, None)
    fast = served.infer(request).to_rest()
    compiled, served.compiled = served.compiled, None
    generic = served.infer(request).to_rest()
    return compiled is not None and fast == generic


# ---------------------------------------------------------------- servers
class Floor:
    """A constant V2 model in a bare `kserve.ModelServer`: KServe's own request handling."""

    @staticmethod
    def model():
        from kserve import Model
        from kserve.protocol.infer_type import InferOutput, InferResponse

        class Constant(Model):
            def __init__(self) -> None:
                super().__init__(NAME)
                self.ready = True

            async def predict(self, payload, headers=None, response_headers=None):
                out = InferOutput("predict", [1], "INT64", [1])
                return InferResponse(payload.id or "x", NAME, [out], model_version="1")

        return Constant()


def serve_floor(kind: str, port: int) -> None:
    """Run a floor server until stopped (`kserve`: bare ModelServer; `starlette`: constant route)."""
    if kind == "kserve":
        from kserve import ModelServer

        ModelServer(http_port=port, enable_grpc=False, enable_latency_logging=False).start([Floor.model()])
        return
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    output = {"name": "predict", "shape": [1], "datatype": "INT64", "data": [1]}
    body = json.dumps({"model_name": NAME, "model_version": "1", "outputs": [output]}).encode()

    async def infer(request):
        await request.body()
        return Response(body, media_type="application/json")

    app = Starlette(routes=[Route(f"/v2/models/{NAME}/infer", infer, methods=["POST"])])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def start(cmd: list[str], log: Path, cwd: Path | None = None) -> subprocess.Popen:
    """A server process in its own session (its log to `log`; it runs in `cwd`, else the log's folder)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, cwd=cwd or log.parent, start_new_session=True
        )


def project_server(model_dir: Path, port: int, grpc_port: int, workers: int, log: Path) -> subprocess.Popen:
    """`python -m kfp_ct.serving` on one version (`--workers N`, gRPC on with one worker)."""
    return start(
        [sys.executable, "-m", "kfp_ct.serving", f"--model_name={NAME}", f"--model_dir={model_dir}",
         "--model_version=1", f"--http_port={port}", f"--grpc_port={grpc_port}", f"--workers={workers}",
         f"--enable_grpc={'true' if workers == 1 else 'false'}"],
        log,
    )  # fmt: skip


def stop(proc: subprocess.Popen) -> None:
    """Stop a server process group started above."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def wait_ready(base: str, path: str, timeout: float = 180, proc: subprocess.Popen | None = None) -> float:
    """Seconds until `path` answers 200."""
    start_t = time.perf_counter()
    host, port = base.removeprefix("http://").split(":")
    while time.perf_counter() - start_t < timeout:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before it was ready")
        try:
            with RawClient(host, int(port)) as client:
                if client.request("GET", path)[0] == 200:
                    return time.perf_counter() - start_t
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{base}{path} not ready after {timeout} s")


# ---------------------------------------------------------------- clients
def http_request(method: str, path: str, body: bytes = b"") -> bytes:
    """The bytes of one HTTP/1.1 keep-alive request."""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def _parse(buf: bytes) -> tuple[int, int, int, bytes] | None:
    """(status, header end, body length, header block) of a buffered response, or None if short."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buf[:end]
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return int(head[9:12]), end + 4, length, head


class RawClient:
    """A keep-alive HTTP/1.1 client on a raw socket: the least client-side time per request."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc) -> None:
        self.sock.close()

    def send(self, raw: bytes) -> tuple[int, bytes, bytes]:
        """Send one prebuilt request; (status, headers, body)."""
        self.sock.sendall(raw)
        while (parsed := _parse(self.buf)) is None or len(self.buf) < parsed[1] + parsed[2]:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk
        status, start_b, length, head = parsed
        body, self.buf = self.buf[start_b : start_b + length], self.buf[start_b + length :]
        return status, head, body

    def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes, bytes]:
        """Build and send one request."""
        return self.send(http_request(method, path, body))


def sequential(base: str, path: str, bodies: list[bytes], n: int, pace_ms: float = 0.0) -> list[float]:
    """Latencies (ms) of `n` requests one after another on one keep-alive connection.

    `pace_ms` > 0 sends one request every `pace_ms` (a server with spare capacity) instead of
    each as soon as the previous answer arrived.
    """
    host, port = base.removeprefix("http://").split(":")
    raws = [http_request("POST", path, b) for b in bodies]
    times = []
    with RawClient(host, int(port)) as client:
        next_at = time.perf_counter()
        for k in range(n + 10):
            next_at += pace_ms / 1000
            start_t = time.perf_counter()
            status, _, body = client.send(raws[k % len(raws)])
            elapsed = (time.perf_counter() - start_t) * 1000
            if status != 200:
                raise RuntimeError(f"HTTP {status}: {body[:200]!r}")
            if k >= 10:
                times.append(elapsed)
            if pace_ms > 0:
                time.sleep(max(0.0, next_at - time.perf_counter()))
    return times


def grpc_sequential(target: str, frames: list, n: int) -> list[float]:
    """Latencies (ms) of `n` V2 gRPC ModelInfer calls, one after another on one channel."""
    import grpc
    from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
    from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc as pb_grpc

    def request(rows) -> Any:
        tensors = []
        for column in rows.columns:
            values = rows[column].tolist()
            kind = rows[column].dtype.kind
            if kind == "f":
                dt, contents = "FP64", pb.InferTensorContents(fp64_contents=values)
            elif kind in "iu":
                dt, contents = "INT64", pb.InferTensorContents(int64_contents=values)
            else:
                dt, contents = (
                    "BYTES",
                    pb.InferTensorContents(bytes_contents=[str(v).encode() for v in values]),
                )
            tensor = pb.ModelInferRequest.InferInputTensor
            tensors.append(tensor(name=column, datatype=dt, shape=[len(rows)], contents=contents))
        return pb.ModelInferRequest(model_name=NAME, inputs=tensors)

    requests = [request(f) for f in frames]
    times = []
    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        for k in range(n + 10):
            start_t = time.perf_counter()
            stub.ModelInfer(requests[k % len(requests)], timeout=30)
            if k >= 10:
                times.append((time.perf_counter() - start_t) * 1000)
    return times


async def _load(base: str, path: str, bodies: list[bytes], total: int, connections: int, cap_s: float,
                stop_on_stdin: bool = False) -> dict:  # fmt: skip
    host, port = base.removeprefix("http://").split(":")
    raws = [http_request("POST", path, b) for b in bodies]
    latencies: list[float] = []
    codes: dict[str, int] = {}
    versions: dict[str, int] = {}
    counter = iter(range(total))
    deadline = time.perf_counter() + cap_s
    stopping = asyncio.Event()
    flowing = asyncio.Event()
    if stop_on_stdin:  # run until the parent closes our stdin; say when the first answer came
        loop = asyncio.get_running_loop()
        loop.run_in_executor(None, sys.stdin.read).add_done_callback(lambda _: stopping.set())

        async def announce() -> None:
            await flowing.wait()
            print("flowing", flush=True)

        announcer = asyncio.ensure_future(announce())

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        buf = b""
        try:
            for k in counter:
                if stopping.is_set() or time.perf_counter() > deadline:
                    return
                start_t = time.perf_counter()
                try:
                    writer.write(raws[k % len(raws)])
                    while (parsed := _parse(buf)) is None or len(buf) < parsed[1] + parsed[2]:
                        chunk = await reader.read(1 << 16)
                        if not chunk:
                            raise ConnectionError("closed")
                        buf += chunk
                except OSError as exc:
                    codes[type(exc).__name__] = codes.get(type(exc).__name__, 0) + 1
                    return
                status, start_b, length, head = parsed
                buf = buf[start_b + length :]
                latencies.append((time.perf_counter() - start_t) * 1000)
                flowing.set()
                codes[str(status)] = codes.get(str(status), 0) + 1
                for line in head.split(b"\r\n"):
                    if line[:16].lower() == b"x-model-version:":
                        v = line[16:].strip().decode()
                        versions[v] = versions.get(v, 0) + 1
        finally:
            writer.close()

    usage = resource.getrusage(resource.RUSAGE_SELF)
    start_t = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - start_t
    if stop_on_stdin:
        await announcer
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    done = len(latencies)
    return {
        "requests": done,
        "seconds": elapsed,
        "rps": done / elapsed if elapsed else 0.0,
        "failed": sum(n for c, n in codes.items() if c != "200"),
        "codes": codes,
        "versions": versions,
        "client_cpu_ms_per_request": 1000 * cpu / max(done, 1),
        **(percentiles(latencies) if latencies else {}),
    }


def load_child(args: list[str], stdin: bool = False) -> subprocess.Popen:
    """`python -m benchmarks.serving_bench load ...` (results: its last stdout line)."""
    return subprocess.Popen(
        [sys.executable, "-m", "benchmarks.serving_bench", "load", *args],
        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def _tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of process `pid` and all its descendants (worker processes)."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry)] = int(fields[1])
            cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent and p not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(cpu.get(p, 0.0) for p in tree)


def loaded(
    base: str, path: str, bodies_file: Path, total: int, connections: int, cap_s: float = 60, server: int = 0
) -> dict:
    """A bounded load from a separate process; its figures, and the server's CPU per request."""
    before = _tree_cpu_s(server) if server else 0.0
    proc = load_child([base, path, str(bodies_file), str(total), str(connections), str(cap_s)])
    out, err = proc.communicate(timeout=cap_s + 60)
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed: {err[-2000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    if server:
        used_s = _tree_cpu_s(server) - before
        result["server_cpu_ms_per_request"] = 1000 * used_s / max(result["requests"], 1)
    return result


# ---------------------------------------------------------------- redeploy under load
def redeploy(tmp: Path, rows: int, connections: int, bodies_file: Path) -> dict:
    """Deploy step v1 (cold server), then v2 under load, then v1 again (a swap back) under load."""
    import mlflow

    from kfp_ct.steps import deploy as step
    from kfp_ct.tracking import models, registry, runs

    env = {"KFP_CT_HOME": str(tmp / "home"), "KFP_CT_PORT": str(free_port())}
    saved = {k: os.environ.get(k) for k in (*env, "MLFLOW_TRACKING_URI")}
    os.environ.update(env)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    out: dict[str, Any] = {}
    try:
        held_out = tmp / "held-out.parquet"
        offline = {}
        runs.connect()
        for version, seed in (("1", 1), ("2", 2)):
            model, x = train_version(tmp / f"offline-{version}", rows, seed)
            offline[version] = tmp / f"offline-{version}"
            with mlflow.start_run() as run:
                uri = models.log_model(model, x, model.predict(x))
            download = Path(mlflow.artifacts.download_artifacts(uri, dst_path=str(tmp / f"dl-{version}")))
            assert registry.register(NAME, uri, run.info.run_id, {}, download).version == version
            x.head(200).to_parquet(held_out, index=False)

        from kfp_ct.deploy.targets.local import LocalTarget

        target_s: list[float] = []
        serve = LocalTarget.deploy

        def timed_target(self, request):  # the target's part: load beside, smoke-test, swap
            start_t = time.perf_counter()
            try:
                return serve(self, request)
            finally:
                target_s.append(time.perf_counter() - start_t)

        def deploy(version: str, champion: str | None) -> float:
            record = tmp / f"decision-{version}-{time.monotonic_ns()}.json"
            record.write_text(json.dumps({"champion_version": champion or ""}))
            params = step.DeployParams(model_name=NAME, model_version=version, target="local")
            paths = step.DeployPaths(model=offline[version], test_set=held_out, decision_record=record)
            start_t = time.perf_counter()
            LocalTarget.deploy = timed_target
            try:
                result = step.run(params, paths)
            finally:
                LocalTarget.deploy = serve
            assert result.champion_version == version
            return time.perf_counter() - start_t

        out["first_deploy_s"] = deploy("1", None)  # starts the server: not a redeploy
        from kfp_ct.deploy.targets.local import read_state

        base = read_state().endpoint
        for label, version, champion in (("redeploy", "2", "1"), ("rollback", "1", "2")):
            args = [base, f"/v2/models/{NAME}/infer", str(bodies_file), "10000000", str(connections), "300"]
            proc = load_child([*args, "--until-stdin-closes"], stdin=True)
            if proc.stdout.readline().strip() != "flowing":  # the load is flowing before the deploy
                raise RuntimeError(f"load generator failed: {proc.stderr.read()[-2000:]}")
            seconds = deploy(version, champion)
            time.sleep(1.0)  # and keeps flowing after the champion moved
            stdout, err = proc.communicate("", timeout=60)
            if proc.returncode != 0:
                raise RuntimeError(f"load generator failed: {err[-2000:]}")
            load = json.loads(stdout.strip().splitlines()[-1])
            out[label] = {
                "deploy_to_champion_moved_s": seconds,
                "target_s": target_s[-1],  # the rest: the step's MLflow work (download, hash, lock, aliases)
                "aliases": registry.aliases(NAME),
                **load,
            }
        LocalTarget().stop()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return out


# ---------------------------------------------------------------- the whole benchmark
def bench(
    n_latency: int,
    n_load: int,
    rounds: int,
    connections: int,
    workers: tuple[int, ...],
    train_rows: int,
    floors: tuple[str, ...] = ("starlette", "kserve"),
    redeploy_rows: int | None = 2000,
    cap_s: float = 15.0,
) -> dict:
    """Everything above, side by side; see the module docstring."""
    from kfp_ct.data.synth import SynthSpec, make_dataset
    from kfp_ct.serving.protocol import frame_to_v2_request

    out: dict[str, Any] = {"connections": connections, "rounds": rounds, "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="kfp-ct-serve-") as tmp_name:
        tmp = Path(tmp_name)
        model_dir = tmp / "model"
        train_version(model_dir, train_rows)
        rows = make_dataset(SynthSpec(rows=1000, seed=7)).drop(columns=["label"])
        out["fast_path_identical"] = check_fast_path(model_dir, rows.head(100))
        bodies = {
            "1": [json.dumps(frame_to_v2_request(rows.iloc[[i]], f"r{i}")).encode() for i in range(200)],
            "100": [
                json.dumps(frame_to_v2_request(rows.iloc[i : i + 100], f"b{i}")).encode()
                for i in range(0, 1000, 100)
            ],
        }
        files = {}
        for size, items in bodies.items():
            files[size] = tmp / f"bodies-{size}.json"
            files[size].write_text(json.dumps([b.decode() for b in items]))
        out["loadavg_in_process"] = list(os.getloadavg())
        out.update(in_process(model_dir, {"1": rows.head(200), "100": rows}, bodies, n_latency, cap_s))
        path = f"/v2/models/{NAME}/infer"
        servers: list[tuple[str, list[str], str | None]] = []
        for kind in floors:
            servers.append((f"{kind}_constant", ["floor", kind], None))
        for w in workers:
            servers.append((f"project workers={w}", ["project", str(w)], f"workers={w}"))
        for label, spec, legacy_key in servers:
            port, grpc_port = free_port(), free_port()
            base = f"http://127.0.0.1:{port}"
            log = tmp / f"{label.replace(' ', '_').replace('=', '')}.log"
            if spec[0] == "floor":
                floor_cmd = [sys.executable, "-m", "benchmarks.serving_bench", "floor", spec[1], str(port)]
                proc = start(floor_cmd, log, cwd=ROOT)  # `benchmarks` is imported from the repo root
                ready_path = "/v2/health/ready" if spec[1] == "kserve" else None
            else:
                proc = project_server(model_dir, port, grpc_port, int(spec[1]), log)
                ready_path = f"/v2/models/{NAME}/ready"
            try:
                if ready_path:
                    startup = wait_ready(base, ready_path, proc=proc)
                else:
                    startup = _wait_post(base, path, bodies["1"][0], proc)
                entry: dict[str, Any] = {"startup_s": startup, "loadavg_start": list(os.getloadavg())}
                sizes = ("1", "100") if spec[0] == "project" else ("1",)
                for size in sizes:
                    lat, load, glat = [], [], []
                    n_seq = n_latency if size == "1" else max(n_latency // 4, 10)
                    n_total = n_load if size == "1" else max(n_load // 5, 20)
                    for _ in range(rounds):
                        lat.append(percentiles(sequential(base, path, bodies[size], n_seq)))
                        load.append(loaded(base, path, files[size], n_total, connections, server=proc.pid))
                        if spec[0] == "project" and spec[1] == "1":
                            frames = [rows.iloc[[i]] for i in range(50)] if size == "1" else [rows.iloc[:100]]
                            glat.append(percentiles(grpc_sequential(f"127.0.0.1:{grpc_port}", frames, n_seq)))
                    entry[f"{size}row"] = {
                        "sequential_p50_ms": summary([x["p50"] for x in lat]),
                        "sequential_p99_ms": summary([x["p99"] for x in lat]),
                        "loaded_rps": summary([x["rps"] for x in load]),
                        "loaded_p50_ms": summary([x.get("p50", 0.0) for x in load]),
                        "loaded_p99_ms": summary([x.get("p99", 0.0) for x in load]),
                        "client_cpu_ms_per_request": summary([x["client_cpu_ms_per_request"] for x in load]),
                        "server_cpu_ms_per_request": summary([x["server_cpu_ms_per_request"] for x in load]),
                        "errors": sum(x["failed"] for x in load),
                        "requests_per_round": n_total,
                        "sequential_requests_per_round": n_seq,
                    }
                    if glat:
                        entry[f"{size}row"]["grpc_sequential_p50_ms"] = summary([x["p50"] for x in glat])
                        entry[f"{size}row"]["grpc_sequential_p99_ms"] = summary([x["p99"] for x in glat])
                entry["loadavg_end"] = list(os.getloadavg())
                out[legacy_key or label] = entry
            finally:
                stop(proc)
        if redeploy_rows:
            out["redeploy"] = redeploy(tmp, redeploy_rows, connections, files["1"])
            out["redeploy"]["loadavg_end"] = list(os.getloadavg())
    return out


def _wait_post(base: str, path: str, body: bytes, proc: subprocess.Popen, timeout: float = 180) -> float:
    """Seconds until a POST of `body` to `path` answers 200 (servers with no readiness route)."""
    start_t = time.perf_counter()
    host, port = base.removeprefix("http://").split(":")
    while time.perf_counter() - start_t < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before it was ready")
        try:
            with RawClient(host, int(port)) as client:
                if client.request("POST", path, body)[0] == 200:
                    return time.perf_counter() - start_t
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{base}{path} not ready after {timeout} s")


def main(argv: list[str] | None = None) -> int:
    """Child roles: `floor KIND PORT` (a floor server), `load URL PATH BODIES TOTAL CONNS CAP_S`."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serving_bench")
    sub = parser.add_subparsers(dest="role", required=True)
    floor = sub.add_parser("floor")
    floor.add_argument("kind", choices=("kserve", "starlette"))
    floor.add_argument("port", type=int)
    load = sub.add_parser("load")
    for name in ("base", "path", "bodies"):
        load.add_argument(name)
    for name in ("total", "connections"):
        load.add_argument(name, type=int)
    load.add_argument("cap_s", type=float)
    load.add_argument("--until-stdin-closes", action="store_true")
    args = parser.parse_args(argv)
    if args.role == "floor":
        serve_floor(args.kind, args.port)
        return 0
    if not args.base.startswith("http://127.0.0.1:"):
        raise SystemExit("the load generator sends traffic to 127.0.0.1 only")
    bodies = [b.encode() for b in json.loads(Path(args.bodies).read_text())]
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(
        _load(args.base, args.path, bodies, args.total, args.connections, args.cap_s, args.until_stdin_closes)
    )
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
