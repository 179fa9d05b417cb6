"""`kfp-ct ui`: the MLflow UI on this home's store, on a free port, printed as a link.

It runs MLflow's own `mlflow ui` in the foreground until Ctrl+C (or until it exits).
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `ui` command."""
    p = subparsers.add_parser("ui", help="the MLflow UI on the local store, on a free port")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    p.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    p.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for the UI to answer")
    p.set_defaults(handler=ui_command)


def free_port(host: str) -> int:
    """A port nobody listens on now."""
    import socket

    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def ui_command(args: argparse.Namespace) -> int:
    """Handle `kfp-ct ui`."""
    import signal
    import subprocess
    import sys
    import time

    import httpx

    from kfp_ct import settings
    from kfp_ct.errors import ServiceUnavailable
    from kfp_ct.localrun import prepare_environment

    prepare_environment()
    port = args.port or free_port(args.host)
    store = settings.tracking_uri()
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", store, "--host", args.host]
    cmd += ["--port", str(port)]
    server_log = settings.home() / "mlflow-ui.log"
    with server_log.open("w") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    signal.signal(signal.SIGTERM, _interrupt)  # a terminated `kfp-ct ui` stops its server too
    url = f"http://{args.host}:{port}"
    deadline = time.monotonic() + args.timeout
    try:
        while True:
            if proc.poll() is not None:
                err = server_log.read_text(errors="replace").strip().splitlines()
                raise ServiceUnavailable(
                    f"mlflow ui exited ({proc.returncode}): {err[-1] if err else ''} (log: {server_log})"
                )
            try:
                if httpx.get(f"{url}/health", timeout=2.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise ServiceUnavailable(f"mlflow ui did not answer on {url} within {args.timeout:.0f} s")
            time.sleep(0.5)
        print(f"MLflow UI for {store}: {url}  (Ctrl+C to stop)", flush=True)
        proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        _stop(proc)
    return 0


def _stop(proc) -> None:
    """Stop `mlflow ui` and the server processes it started (its own process group)."""
    import os
    import signal
    import subprocess

    for sig, wait_s in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
