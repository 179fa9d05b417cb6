"""Facts about other processes, by pid (Linux `/proc`; elsewhere only whether the pid exists)."""

from __future__ import annotations

import os


def alive(pid: int) -> bool:
    """Whether process `pid` is running (not gone, and not a zombie waiting to be reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not reaped) is not alive, but a killed process whose leader thread is a
    # zombie while other threads still exit is: it holds its sockets until the last one is gone.
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return True
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/stat") as fh:
                if fh.read().split(")")[-1].split()[0] != "Z":
                    return True
        except OSError:
            continue
    return False
