"""Ending a job's leftover processes: kill what a finder returns until it returns nothing.

Standalone (os, signal and time only, no annotations that need a future import): the Ray driver
ships this module's source to workers that do not have Suanshu installed (``ray_outbox``)."""

import os
import signal
import time


def running(pid):
    """Alive and not a zombie (an orphan's zombie waits for a reaper that may never come)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def kill_until_gone(find, rounds=100):
    """SIGKILL every pid ``find()`` returns, again until it returns none: a process may fork while
    it is being killed."""
    for _ in range(rounds):
        pids = find()
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.01)


def members(belongs):
    """The running processes for which ``belongs(pid)`` holds (those it may inspect)."""
    found = []
    for name in os.listdir("/proc"):
        try:
            if name.isdigit() and belongs(int(name)) and running(name):
                found.append(int(name))
        except OSError:
            continue
    return found
