"""Executors run a job's program next to the data: one interface, one module per backend.

A job's *workspace* is a private temp dir holding ``program.py`` and ``data/<table>.parquet`` (only
the contract's governed view, materialised); the program reads ``$SUANSHU_DATA`` and writes what it
wants released into ``$SUANSHU_OUTPUT`` (one directory, collected and checked by the caller). Logs
(stdout and stderr, interleaved) are captured apart from the outputs and checked too.

- ``local`` (the embedded default): a sandboxed subprocess on this host (``executors/local.py``).
- ``ray``: a Ray cluster through the Job Submission API (``executors/ray.py``).
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.parquet as pq

PROGRAM = "program.py"


@dataclass(frozen=True)
class Limits:
    cpu: int  # cores (RLIMIT_CPU is cpu x wall seconds)
    memory_gb: int
    wall_seconds: float
    max_output_bytes: int
    accelerators: dict[str, int] = field(default_factory=dict)


@dataclass
class RunResult:
    status: str  # succeeded | failed | timeout | cancelled | unavailable (the pool is down: fail over)
    exit_code: int | None
    logs: str
    wall_seconds: float
    cpu_seconds: float | None = None
    sandbox: dict = field(default_factory=dict)  # what isolation applied, and why not where it did not
    error: str | None = None
    ref: str | None = None  # the backend's id for the run (a Ray submission id)
    withheld: list[dict] = field(default_factory=list)  # outputs left on a remote pool (over the size cap)


class Workspace:
    """A private temp dir: the program, the governed data, an empty output dir."""

    def __init__(self, program: str, data: dict[str, pa.Table | Path], *, prefix: str = "suanshu-job-"):
        """``data``: each table as Arrow, or a Parquet file to copy (the copy is the program's to touch)."""
        self.root = Path(tempfile.mkdtemp(prefix=prefix))  # mode 0700
        self.code = self.root / "code"  # what the program sees (Ray uploads this dir)
        self.data = self.code / "data"
        self.out = self.root / "out"
        self.log = self.root / "job.log"
        self.data.mkdir(parents=True)
        self.out.mkdir()
        (self.code / PROGRAM).write_text(program, encoding="utf-8")
        try:
            for table, rows in data.items():
                if isinstance(rows, Path):
                    shutil.copyfile(rows, self.data / f"{table}.parquet")
                else:
                    pq.write_table(rows, self.data / f"{table}.parquet")
        except BaseException:
            self.cleanup()
            raise

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc) -> None:
        self.cleanup()


class Executor(Protocol):
    name: str

    def run(self, ws: Workspace, limits: Limits, *, job_id: str, should_cancel: Callable[[], bool],
            on_start: Callable[[dict], None]) -> RunResult:
        """``on_start(ref)`` once the job is launched: ``{"kind": "local", "process": process_identity(pid)}``
        or ``{"kind": "ray", "id": submission id}``, so a sweep can stop it if this runner dies."""
        ...


def process_identity(pid: int) -> dict:
    """A process as other processes can check it later: host, pid and the pid's start time, so a
    recycled pid is not taken for the same process."""
    return {"host": socket.gethostname(), "pid": pid, "started": _process_start(pid)}


def is_alive(ident: dict | None) -> bool | None:
    """Is the process ``ident`` names still running? None when this host cannot tell (another host)."""
    if not ident or ident.get("host") != socket.gethostname():
        return None
    started = _process_start(ident["pid"])
    return started is not None and started == ident.get("started")


def _process_start(pid: int) -> str | None:
    try:  # /proc/PID/stat after the name's parens: state, ..., start time in ticks since boot (field 22)
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else fields[19]  # a zombie has finished


def this_process() -> dict:
    return process_identity(os.getpid())


class PoolUnavailable(Exception):
    """The pool cannot take the job now (cluster down, unreachable): block it and fail over."""


def executor_for(address: str) -> Executor:
    """``local`` -> the sandboxed subprocess; a Ray address -> a Job Submission client."""
    if address == "local":
        from suanshu.compute.executors.local import LocalExecutor

        return LocalExecutor()
    from suanshu.compute.executors.ray import RayExecutor

    return RayExecutor(address)
