"""The launcher: `python -m kfp_ct.preload.launcher -m MODULE ARGS...`, what kfp.local starts per step.

It hands its arguments, environment, working directory and standard streams to the run's preload
server (`KFP_CT_PRELOAD_SOCKET`), waits for the forked step and exits with its status, forwarding
SIGINT and SIGTERM to it. If there is no server to talk to (none set, it exited, or it did not
come up within `WAIT_S`), a standard stream is closed, or the command is not `-m MODULE`, it
becomes the real interpreter (`os.execv`) with the same arguments: the step then runs exactly as
it would without preloading.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import time

from kfp_ct.preload import PYTHON_ENV, SERVER_PID_ENV, SOCKET_ENV
from kfp_ct.processes import alive

WAIT_S = 180.0  # the longest a step waits for the server to finish importing


def connect(path: str, server_pid: int, wait_s: float = WAIT_S) -> socket.socket | None:
    """A connection to the server at `path`, waiting while it imports; None if it is not coming."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
            return sock
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            if server_pid and not alive(server_pid):  # gone, or exited and not yet reaped
                return None
            time.sleep(0.02)
    return None


def _streams_open() -> bool:
    """Whether stdin, stdout and stderr are all open (so they can be handed over)."""
    try:
        for fd in (0, 1, 2):
            os.fstat(fd)
    except OSError:
        return False
    return True


def fallback(argv: list[str]) -> None:
    """Become the real interpreter with `argv`."""
    python = os.environ.get(PYTHON_ENV) or sys.executable
    os.execv(python, [python, *argv])


def run(argv: list[str]) -> int:
    """Run `argv` in a step forked by the server; its exit status (falls back to exec)."""
    from kfp_ct.preload.server import HEADER

    path = os.environ.get(SOCKET_ENV)
    if not path or len(argv) < 2 or argv[0] != "-m" or not _streams_open():
        fallback(argv)
    sock = connect(path, int(os.environ.get(SERVER_PID_ENV) or 0))
    if sock is None:
        fallback(argv)
    body = json.dumps({"argv": argv, "env": dict(os.environ), "cwd": os.getcwd()}).encode()
    with sock:
        socket.send_fds(sock, [HEADER.pack(len(body)) + body], [0, 1, 2])
        replies = sock.makefile("r")
        first = replies.readline().split()
        if first[:1] != ["pid"]:
            print("kfp-ct: the preload server did not start the step", file=sys.stderr)
            return 1
        child = int(first[1])

        def forward(signum: int, _frame: object) -> None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signum)

        signal.signal(signal.SIGINT, forward)
        signal.signal(signal.SIGTERM, forward)
        last = replies.readline().split()
    if last[:1] == ["exit"]:
        return int(last[1])
    print(f"kfp-ct: step process {child} ended without an exit status (killed?)", file=sys.stderr)
    return 1


def main() -> int:
    """Entry point."""
    return run(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
