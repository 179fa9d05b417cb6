"""The preload server: `python -m kfp_ct.preload.server SOCKET [MODULE...]` (see `preloaded_steps`).

It listens on `SOCKET` at once and imports the modules named (default `PRELOAD`) one by one
while no launcher waits, then freezes the heap for the garbage collector. Each connection brings
one launcher's request (JSON: argv, env, cwd) and its stdin, stdout and stderr as file
descriptors. The server forks, and the child becomes that step: it takes the streams, the working
directory and the environment, sends its pid, runs `-m <module>` as `__main__` (the way
`python -m` does), runs the exit handlers, and sends its exit status before `os._exit` (no final
collection of the heap). A step that comes before the imports are done gets what is in so far
and imports the rest itself, so the first step waits for nothing. The server stays
single-threaded, so forking it is safe; it stops serving (launchers then fall back to a plain
interpreter) if an import left a thread running. It exits when the process that started it is
gone, and then removes the socket's folder.
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


def preload(name: str) -> str | None:
    """Import `name`; why not, if it failed (an optional library: a step imports it itself)."""
    try:
        importlib.import_module(name)
    except Exception as exc:
        return f"{name}: {exc}"
    return None


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
        if "numpy" in sys.modules:  # a fresh process seeds numpy's global generator afresh
            sys.modules["numpy"].random.seed()
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


def _fork_step(listener: socket.socket) -> None:
    conn, _ = listener.accept()
    try:
        request, fds = read_request(conn)
    except Exception as exc:
        print(f"kfp-ct preload: bad request: {exc}", flush=True)
        conn.close()
        return
    sys.stdout.flush()
    sys.stderr.flush()
    if os.fork() == 0:
        listener.close()
        become_step(conn, request, fds)
    for fd in fds:
        os.close(fd)
    conn.close()


def serve(path: str, parent: int, pending: list[str]) -> int:
    """Fork a step for each launcher on `path`, importing `pending` in between, until `parent` is gone.

    A step that comes while imports are pending gets what is imported so far (it imports the
    rest itself); each idle moment imports the next module. Once all are in, the heap is frozen.
    """
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".tmp")
    os.replace(path + ".tmp", path)  # launchers see the socket only once it accepts
    listener.listen(16)
    print(f"kfp-ct preload: serving steps on {path}", flush=True)
    started = time.perf_counter()
    while os.getppid() == parent:
        ready, _, _ = select.select([listener], [], [], 0 if pending else 1.0)
        if ready:
            _fork_step(listener)
            continue
        if not pending:
            continue
        failed = preload(pending.pop(0))
        if failed:
            print(f"kfp-ct preload: not preloaded: {failed}", flush=True)
        if threading.active_count() > 1:  # forking now would copy a process mid-thread: stop
            names = [t.name for t in threading.enumerate()]
            print(f"kfp-ct preload: stopped serving, an import started threads: {names}", flush=True)
            return 2
        if not pending:
            gc.collect()
            gc.freeze()
            print(f"kfp-ct preload: imported in {time.perf_counter() - started:.2f} s", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Serve on the socket named first, importing the modules named after it (default `PRELOAD`)."""
    args = sys.argv[1:] if argv is None else argv
    parent = os.getppid()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    try:
        return serve(args[0], parent, list(args[1:] or PRELOAD))
    finally:
        for name in (args[0], args[0] + ".tmp"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)
        if os.getppid() != parent:  # orphaned (the run was killed): nobody else cleans up
            shutil.rmtree(os.path.dirname(args[0]), ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
