"""A control group per job: memory, processes and cores limited for the job as a whole.

``setrlimit`` limits each process: a program that forks ten workers may use ten times its
memory. A cgroup holds every process the program starts (children cannot leave it), so the
kernel enforces the contract's memory (the OOM killer ends the job), its process count and its
cores (a CPU quota per period) for all of them together, and the group's process list is the
job's, for the sweep after it ends.

Both kernel interfaces are handled: cgroup v2 (one hierarchy: ``memory.max``, ``pids.max``,
``cpu.max``) and v1 (a hierarchy per controller: ``memory.limit_in_bytes``, ``pids.max``,
``cpu.cfs_quota_us``). The job's group is made under this process's own group (``suanshu-jobs/<job>``),
so whatever bounds the exchange bounds its jobs too. Where no controller is writable (not root,
a host that delegates none) there is no group and the receipt says so; the per-process limits
still apply.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from suanshu.compute.executors import reaping

ROOT = Path("/sys/fs/cgroup")
PARENT = "suanshu-jobs"
PERIOD_US = 100_000  # the CPU quota's period (the kernel's default)
STALE_S = 600  # an empty group this old is a dead runner's (a new one is empty until its job enters)


@dataclass
class JobCgroup:
    """The job's group in each controller that could be set up: ``dirs`` maps a controller
    (memory, pids, cpu) to its dir (one dir for all under v2)."""

    dirs: dict[str, Path] = field(default_factory=dict)
    version: int = 1

    def enter(self) -> None:
        """Move the calling process into the group (in the child, before exec)."""
        for path in dict.fromkeys(self.dirs.values()):
            (path / "cgroup.procs").write_text("0")

    def pids(self) -> list[int]:
        found: set[int] = set()
        for path in dict.fromkeys(self.dirs.values()):
            try:
                found |= {int(p) for p in (path / "cgroup.procs").read_text().split()}
            except OSError:
                continue
        return sorted(found)

    def oom_kills(self) -> int:
        """How many processes of the job the kernel killed for the group's memory limit."""
        path = self.dirs.get("memory")
        if path is None:
            return 0
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            match = re.search(r"^oom_kill (\d+)$", (path / name).read_text(), re.MULTILINE)
        except OSError:
            return 0
        return int(match.group(1)) if match else 0

    def remove(self) -> None:
        """Kill what is left in the group, then remove it (a group with processes cannot go)."""
        reaping.kill_until_gone(self.pids)
        for path in dict.fromkeys(self.dirs.values()):
            _rmdir(path)


def describe(group: JobCgroup | None, cores: int, memory_bytes: int, processes: int) -> str:
    if group is None:
        return "none (no writable cgroup controller here): limits per process only"
    parts = {"memory": f"memory {memory_bytes >> 20} MiB", "pids": f"{processes} processes",
             "cpu": f"{cores} cores"}
    return f"cgroup v{group.version}: " + ", ".join(parts[c] for c in parts if c in group.dirs) + " for the whole job"


def create(name: str, cores: int, memory_bytes: int, processes: int) -> JobCgroup | None:
    """The job's group (``name``: unique among running jobs) with its limits set, or None where
    no controller can be used."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    if (ROOT / "cgroup.controllers").exists():
        return _create_v2(name, cores, memory_bytes, processes)
    return _create_v1(name, cores, memory_bytes, processes)


def _limits_v1(cores: int, memory_bytes: int, processes: int) -> dict[str, dict[str, str]]:
    return {"memory": {"memory.limit_in_bytes": str(memory_bytes)},
            "pids": {"pids.max": str(processes)},
            "cpu": {"cpu.cfs_period_us": str(PERIOD_US), "cpu.cfs_quota_us": str(cores * PERIOD_US)}}


def _create_v1(name: str, cores: int, memory_bytes: int, processes: int) -> JobCgroup | None:
    own = _own_groups()
    group = JobCgroup(version=1)
    for controller, files in _limits_v1(cores, memory_bytes, processes).items():
        hierarchy = ROOT / controller
        if controller not in own or not (hierarchy / "cgroup.procs").exists():
            continue
        path = _job_dir(hierarchy / own[controller].lstrip("/") / PARENT, name)
        if path is not None and _write_all(path, files):
            group.dirs[controller] = path
        elif path is not None:
            _rmdir(path)
    return group if group.dirs else None


def _create_v2(name: str, cores: int, memory_bytes: int, processes: int) -> JobCgroup | None:
    own = _own_groups().get("", "/")
    parent = ROOT / own.lstrip("/") / PARENT
    wanted = ("memory", "pids", "cpu")
    try:
        parent.mkdir(exist_ok=True)
        # a group with processes may not hand controllers down (v2's rule): the parent holds none
        available = set((parent / "cgroup.controllers").read_text().split())
        enable = [c for c in wanted if c in available]
        (parent / "cgroup.subtree_control").write_text(" ".join("+" + c for c in enable))
    except OSError:
        return None
    path = _job_dir(parent, name)
    if path is None:
        return None
    files = {"memory": {"memory.max": str(memory_bytes), "memory.swap.max": "0"},
             "pids": {"pids.max": str(processes)},
             "cpu": {"cpu.max": f"{cores * PERIOD_US} {PERIOD_US}"}}
    group = JobCgroup(version=2)
    for controller in enable:
        if _write_all(path, files[controller], optional={"memory.swap.max"}):
            group.dirs[controller] = path
    if not group.dirs:
        _rmdir(path)
        return None
    return group


def _own_groups() -> dict[str, str]:
    """This process's group per v1 controller (and "" for v2), from /proc/self/cgroup."""
    groups: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return groups
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(","):
            groups[controller] = path
    return groups


def _job_dir(parent: Path, name: str) -> Path | None:
    """A fresh dir for the job under ``parent``; the empty groups of jobs whose runner died go."""
    try:
        parent.mkdir(exist_ok=True)
        for stale in parent.iterdir():  # (rmdir fails while a group has processes)
            if stale.is_dir() and stale.name != name and stale.stat().st_mtime < time.time() - STALE_S:
                _rmdir(stale)
        path = parent / name
        _rmdir(path)
        path.mkdir()
        return path
    except OSError:
        return None


def _write_all(path: Path, files: dict[str, str], optional: set[str] = frozenset()) -> bool:
    for file, value in files.items():
        try:
            (path / file).write_text(value)
        except OSError:
            if file not in optional:
                return False
    return True


def _rmdir(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass
