"""The preload server: `python -m kfp_ct.preload.server SOCKET [MODULE...]` (see `preloaded_steps`).

It imports the modules named (default `PRELOAD`), freezes the heap for the garbage collector,
then listens on `SOCKET`. Each connection brings one launcher's request (JSON: argv, env, cwd)
and its stdin, stdout and stderr as file descriptors. The server forks, and the child becomes
that step: it takes the streams, the working directory and the environment, sends its pid, runs
`-m <module>` as `__main__` (the way `python -m` does), runs the exit handlers, and sends its
exit status before `os._exit` (no final collection of the heap). The server stays
single-threaded, so forking it is safe; it refuses to serve (and exits, so launchers fall back to
a plain interpreter) if an import left a thread running. It exits when the process that started
it is gone, and then removes the socket's folder.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import json
import os
import runpy
import select
import shutil
import signal
import socket
import struct
import sys
import threading
import time
import traceback

from kfp_ct.preload import PRELOAD

HEADER = struct.Struct("!I")  # the request's length, before it


def preload(names: tuple[str, ...] = PRELOAD) -> list[str]:
    """Import `names` (what is not installed is skipped); the ones that failed."""
    missing = []
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # an optional library: the step imports it itself, if it needs it
            missing.append(f"{name}: {exc}")
    return missing


def read_request(conn: socket.socket) -> tuple[dict, list[int]]:
    """One launcher's request and the file descriptors sent with it."""
    data, fds, _, _ = socket.recv_fds(conn, 1 << 16, 3)
    while len(data) < HEADER.size or len(data) < HEADER.size + HEADER.unpack_from(data)[0]:
        more = conn.recv(1 << 16)
        if not more:
            raise ConnectionError("launcher closed the connection mid-request")
        data += more
    (size,) = HEADER.unpack_from(data)
    return json.loads(data[HEADER.size : HEADER.size + size]), fds


def run_module(argv: list[str]) -> int:
    """Run `-m module args...` as `python -m` would; its exit status."""
    module, args = argv[1], argv[2:]
    sys.argv = [module, *args]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        if exc.code is None:
            return 0
        if isinstance(exc.code, int):
            return exc.code
        print(exc.code, file=sys.stderr)
        return 1
    except BaseException:
        sys.excepthook(*sys.exc_info())
        return 1
    return 0


def become_step(conn: socket.socket, request: dict, fds: list[int]) -> None:
    """In the forked child: take the launcher's streams, place and environment, run, report, exit."""
    code = 1
    try:
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.path[0] = request["cwd"]
        unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))
        for stream in (sys.stdout, sys.stderr):
            stream.reconfigure(line_buffering=True, write_through=unbuffered)
        conn.sendall(f"pid {os.getpid()}\n".encode())
        code = run_module(request["argv"])
        atexit._run_exitfuncs()
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        try:
            conn.sendall(f"exit {code}\n".encode())
        finally:
            os._exit(code)


def serve(path: str, parent: int) -> int:
    """Accept launchers on `path` until `parent` is gone (or SIGTERM)."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".tmp")
    os.replace(path + ".tmp", path)  # launchers see the socket only once it accepts
    listener.listen(16)
    print(f"kfp-ct preload: serving steps on {path}", flush=True)
    while os.getppid() == parent:
        ready, _, _ = select.select([listener], [], [], 1.0)
        if not ready:
            continue
        conn, _ = listener.accept()
        try:
            request, fds = read_request(conn)
        except Exception as exc:
            print(f"kfp-ct preload: bad request: {exc}", flush=True)
            conn.close()
            continue
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            listener.close()
            become_step(conn, request, fds)
        for fd in fds:
            os.close(fd)
        conn.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Preload, check that the process is still single-threaded, then serve."""
    args = sys.argv[1:] if argv is None else argv
    parent = os.getppid()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    started = time.perf_counter()
    missing = preload(tuple(args[1:]) or PRELOAD)
    for line in missing:
        print(f"kfp-ct preload: not preloaded: {line}", flush=True)
    if threading.active_count() > 1:
        names = [t.name for t in threading.enumerate()]
        print(f"kfp-ct preload: not serving, an import started threads: {names}", flush=True)
        return 2
    gc.collect()
    gc.freeze()
    print(f"kfp-ct preload: imported in {time.perf_counter() - started:.2f} s", flush=True)
    try:
        return serve(args[0], parent)
    finally:
        for name in (args[0], args[0] + ".tmp"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)
        if os.getppid() != parent:  # orphaned (the run was killed): nobody else cleans up
            shutil.rmtree(os.path.dirname(args[0]), ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
