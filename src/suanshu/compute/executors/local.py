"""The embedded executor: the program runs as a sandboxed subprocess on this host.

Isolation, each layer applied where the OS allows it and recorded in ``RunResult.sandbox``
(with the reason where it did not apply, so a receipt never claims more than was done):

- **network**: a new, empty network namespace (``unshare --net``; as a non-root user
  ``unshare -rn``, a user namespace that maps the caller to root inside it). The namespace has only
  a loopback that is down, so every connect fails with ENETUNREACH.
- **user**: as root, the program runs under a uid of its own (``setpriv``; 100000 + a hash of the job
  id, the next free one if a running job holds it (``claimed_uid``), no groups) with umask 077, so
  it cannot read the exchange's data dir (``market.jobs`` makes it 0700 first) or the vault. In a
  private mount namespace each shared temp dir (/tmp, /var/tmp, /dev/shm, /run/lock) is an empty
  tmpfs of the job's own (``private_temp``): it sees nothing another job or the exchange keeps
  there, and what it writes there goes with it (without the namespace, what it left at the top
  of those dirs is removed when it ends). The workspace's code, data and output dirs are handed to that uid; the workspace's own dir
  stays root's (searchable only), so the program cannot swap the log or the output dir for a link,
  and the log is read back from the file the program was given, never from its path.
- **limits** (``resource.setrlimit`` in the child before exec): CPU seconds (cores x wall time),
  address space (memory, per process), file size (the output limit), open files, processes and
  threads of the job's uid (``JOB_PROCESSES``), no core dumps; a new session, so the wall-clock
  timeout kills the whole process group. As root, a cgroup of the job's own (``cgroups``) also
  bounds the memory, the processes and the cores of all its processes together, and the receipt
  names the memory limit when the kernel ended a process at it.
- **lifetime**: when the program ends (by itself, by the time limit or cancelled) its session is
  killed, and so is every process still in the job's network namespace (a child that left the
  session with ``setsid`` is still in it), before the outputs are checked: nothing it started can
  write into the output dir after the check or compute on unmetered. Without a network namespace
  only the session is killed.
- **files**: the program starts in a private temp dir holding only itself and the governed view
  (Parquet); ``python -I`` ignores the caller's environment and user site; the environment is
  rebuilt from nothing. When the interpreter lies under a dir the job's uid may not search
  (a Python under /root), that dir is, in the same mount namespace, an empty tmpfs holding read-only binds of just the interpreter's entries (``covered``).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import resource
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from suanshu.compute.executors import (
    PROGRAM,
    Limits,
    RunResult,
    Workspace,
    cgroups,
    process_identity,
    reaping,
)

UID_BASE, UID_SPAN = 100_000, 50_000  # per-job uids, far above the system's users
POLL_S = 0.05
CANCEL_CHECK_S = 0.5
_GB = 1 << 30
# Python with pyarrow/numpy maps far more address space than it touches: never cap below this.
MIN_ADDRESS_SPACE = 2 * _GB


@cache
def network_isolation() -> tuple[list[str], str]:
    """The command prefix that cuts the network here, and what it is (or why there is none).

    Probed once per process by running ``true`` under each candidate."""
    candidates = [["unshare", "--net", "--"], ["unshare", "-rn", "--"]]
    if os.geteuid() != 0:
        candidates.reverse()  # a plain user needs the user namespace first
    reasons = []
    for prefix in candidates:
        if shutil.which(prefix[0]) is None:
            reasons.append(f"{prefix[0]} not installed")
            break
        probe = subprocess.run([*prefix, "true"], capture_output=True, text=True, timeout=10)
        if probe.returncode == 0:
            return prefix, " ".join(prefix[:-1])
        reasons.append(f"{' '.join(prefix[:-1])}: {probe.stderr.strip() or probe.returncode}")
    return [], "none (" + "; ".join(reasons) + ")"


def job_uid(job_id: str) -> int:
    """Where the search for a job's uid starts (``claimed_uid`` takes the first one free)."""
    return UID_BASE + int(hashlib.sha256(job_id.encode()).hexdigest(), 16) % UID_SPAN


@contextmanager
def claimed_uid(job_id: str, workspace: Path) -> Iterator[int | None]:
    """A uid no other running job on this host has (None when not root or without setpriv).

    Uids come from a hash of the job id, so two jobs can hash alike: each running job holds a lock
    on its uid (``flock``, released by the kernel if this process dies), and a job whose uid is
    held takes the next free one. What the program left in the shared temp dirs goes when the job
    ends (but its ``workspace``: the exchange checks and removes that), so a later job that gets
    the same uid finds nothing of it."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        yield None
        return
    locks = _lock_dir()
    start = job_uid(job_id) - UID_BASE
    for k in range(UID_SPAN):
        uid = UID_BASE + (start + k) % UID_SPAN
        fd = os.open(locks / str(uid), os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            yield uid
        finally:
            _clear_temp(uid, keep=workspace)
            os.close(fd)  # releases the lock
        return
    raise RuntimeError(f"all {UID_SPAN} job uids are in use on this host")


def _lock_dir() -> Path:
    """Root's own dir of uid locks; one a job's uid made first is not trusted."""
    path = Path(tempfile.gettempdir()) / "suanshu-job-uids"
    if path.is_symlink() or path.exists():
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
            path.unlink()
        elif st.st_uid != os.geteuid() or st.st_mode & 0o077:
            shutil.rmtree(path)
    path.mkdir(mode=0o700, exist_ok=True)
    return path


TEMP_DIRS = (tempfile.gettempdir(), "/var/tmp", "/dev/shm", "/run/lock")  # the dirs anyone may write in


def _clear_temp(uid: int, keep: Path) -> None:
    """Remove what the uid made in the shared temp dirs (where a program without a home writes)."""
    for temp in TEMP_DIRS:
        try:
            entries = list(os.scandir(temp))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.stat(follow_symlinks=False).st_uid != uid or Path(entry.path) == keep:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
            except OSError:
                continue


def user_switch(uid: int | None) -> tuple[list[str], str]:
    if uid is None:
        if os.geteuid() != 0:
            return [], f"uid {os.geteuid()} (not root: already unprivileged)"
        return [], "root (setpriv not installed: could not drop privileges)"
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"], f"uid {uid} (per job)"


def interpreter_paths() -> list[Path]:
    """What the program's interpreter reads: its binary, its prefixes (the standard library, the
    venv and its packages) and every dir on this process's import path."""
    paths = [sys.executable, sys.prefix, sys.base_prefix, *(p for p in sys.path if p)]
    return [Path(os.path.realpath(p)) for p in paths if os.path.exists(p)]


def blocked_dirs(paths: list[Path]) -> dict[Path, set[str]]:
    """The topmost dirs on the way to ``paths`` that other users may not search (``/root`` is
    0700), each with the paths under it that are needed (relative; none inside another)."""
    blocked: dict[Path, set[str]] = {}
    for path in paths:
        for parent in reversed(path.parents):
            if parent == path or parent.stat().st_mode & stat.S_IXOTH:
                continue
            blocked.setdefault(parent, set()).add(str(path.relative_to(parent)))
            break
    return {d: {p for p in rel if not any(p.startswith(o + "/") for o in rel)} for d, rel in blocked.items()}


def covered(blocked: dict[Path, set[str]], stage: Path) -> str:
    """Shell lines that, in a private mount namespace, cover each blocked dir with an empty
    tmpfs that others may search, holding read-only binds of just the needed paths at their own
    depth: the job's uid then reaches its interpreter and nothing else in the dir (a checkout
    beside the interpreter's lib dir stays out of reach). Each tmpfs is built at
    ``stage/<k>`` (a root-only dir) and then moved into place: the binds must be made before the
    cover hides their sources."""
    q = shlex.quote
    lines = ["set -e", "umask 022"]  # the dirs on the way must be searchable (the program's umask is 077)
    for k, (dir_, names) in enumerate(sorted(blocked.items())):
        at = stage / str(k)
        lines += [f"mkdir {q(str(at))}", f"mount -t tmpfs -o mode=0755,size=64k suanshu-cover {q(str(at))}"]
        for name in sorted(names):
            lines += _bind_back(dir_ / name, at / name, writable=False)
        lines.append(f"mount --move {q(str(at))} {q(str(dir_))}")
    return "\n".join([*lines, "umask 077"])


def _bind_back(src: Path, dst: Path, *, writable: bool) -> list[str]:
    """Shell lines that bind ``src`` at ``dst`` in a cover being built: read-only with the mounts
    under it, or writable and alone (the workspace, whose stage holds the cover itself)."""
    q = shlex.quote
    s, d = q(str(src)), q(str(dst))
    lines = [f"mkdir -p {q(str(dst.parent))}", f"if [ -d {s} ]; then mkdir {d}; else touch {d}; fi"]
    if writable:
        return [*lines, f"mount --bind {s} {d}"]
    return [*lines, f"mount --rbind {s} {d}", f"mount -o remount,bind,ro {d}"]


def kept_under(temp: Path, paths: list[Path]) -> list[Path]:
    """The paths under ``temp`` (relative; none inside another) that a private ``temp`` must keep."""
    rel = sorted(str(p.relative_to(temp)) for p in paths if p != temp and p.is_relative_to(temp))
    return [Path(r) for r in rel if not any(r.startswith(o + "/") for o in rel)]


def private_temp(temps: list[Path], workspace: Path, interpreter: list[Path], stage: Path,
                 size_bytes: int) -> str:
    """Shell lines that, in a private mount namespace, cover each shared temp dir with an empty
    tmpfs of the job's own (sticky and writable by all, like the dir it covers; ``size_bytes``
    at most), so nothing the program writes there outlives it or reaches another job, however
    deep. What lies under a temp dir and must stay reachable is bound back at its own path: the
    workspace writable (bound alone, not the mounts under it), the interpreter's paths read-only."""
    q = shlex.quote
    lines = ["set -e", "umask 022"]
    for k, temp in enumerate(temps):
        at = stage / f"temp{k}"
        lines += [f"mkdir {q(str(at))}",
                  f"mount -t tmpfs -o mode=1777,size={size_bytes} suanshu-temp {q(str(at))}"]
        for rel in kept_under(temp, [workspace, *interpreter]):
            lines += _bind_back(temp / rel, at / rel, writable=temp / rel == workspace)
        lines.append(f"mount --move {q(str(at))} {q(str(temp))}")
    return "\n".join([*lines, "umask 077"])


def shared_temps() -> list[Path]:
    """The shared temp dirs on this host that are real dirs (not links)."""
    return [Path(t) for t in dict.fromkeys(TEMP_DIRS) if os.path.isdir(t) and not os.path.islink(t)]


ROOT_NETWORK = ["unshare", "--net", "--"]


@contextmanager
def _private_mounts(uid: int | None, workspace: Path, limits: Limits) -> Iterator[tuple[list[str], dict]]:
    """The command prefix (network and mount namespaces, then the mounts) that gives the job's
    uid empty temp dirs of its own (``private_temp``) and lets it reach this interpreter
    (``covered``), with what it did for the receipt; ([], {}) when the job runs under no uid of
    its own or the host cannot make the namespaces as root. Without the interpreter's covers, a
    Python under /root starts for the uid only because ``setpriv`` resolves its path first: the
    loader then falls back to another libpython it can read (a different Python), and the program
    cannot start Python again (multiprocessing, subprocesses)."""
    if uid is None or network_isolation()[0] != ROOT_NETWORK:
        yield [], {}
        return
    # built in the workspace (root's): it goes with the workspace, also when a runner dies
    stage = workspace / ".cover"
    stage.mkdir(mode=0o700)
    interpreter = interpreter_paths()
    temps = shared_temps()
    blocked = blocked_dirs(interpreter)
    # tmpfs pages are memory: the job's memory limit bounds each dir
    script = [private_temp(temps, workspace, interpreter, stage, limits.memory_gb * _GB)]
    done = {"temp": "private: an empty tmpfs of the job's own over " + ", ".join(map(str, temps))}
    if blocked:
        script.append(covered(blocked, stage))
        done["interpreter"] = "reached through read-only binds in a private mount namespace"
    yield ["unshare", "--net", "--mount", "--propagation", "private", "--", "sh", "-c",
           "\n".join(script) + '\nexec "$@"', "sh"], done


JOB_PROCESSES = 512  # processes and threads of a job's own uid (a fork bomb stops here)


@contextmanager
def _job_group(job_id: str, limits: Limits, uid: int | None) -> Iterator[cgroups.JobCgroup | None]:
    """The job's cgroup (``cgroups``), as root; removed when the job ends."""
    if uid is None:
        yield None
        return
    # named by the uid too: unique among the host's running jobs (``claimed_uid``)
    group = cgroups.create(f"{uid}-{job_id}", limits.cpu, limits.memory_gb * _GB, JOB_PROCESSES)
    try:
        yield group
    finally:
        if group:
            group.remove()


def _limit(limits: Limits, own_uid: bool, group: cgroups.JobCgroup | None = None) -> Callable[[], None]:
    cpu_s = max(1, int(limits.cpu * limits.wall_seconds) + 1)
    address = max(MIN_ADDRESS_SPACE, limits.memory_gb * _GB)
    file_size = max(1 << 20, limits.max_output_bytes * 2)  # room to see that it is too large

    def apply() -> None:  # in the child, between fork and exec
        if group:
            group.enter()
        os.setsid()
        os.umask(0o077)
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
        resource.setrlimit(resource.RLIMIT_AS, (address, address))
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if own_uid:  # counted per real uid: only a uid of the job's own, or it would count the exchange's
            resource.setrlimit(resource.RLIMIT_NPROC, (JOB_PROCESSES, JOB_PROCESSES))

    return apply


def _hand_over(ws: Workspace, uid: int) -> None:
    """Let the unprivileged user read the code and data and write the outputs (and nothing else).
    The workspace's own dir stays root's (searchable, not writable): the program cannot swap the
    log or the output dir for a link to a file only root may read, which the exchange, as root,
    would then read for it."""
    os.chmod(ws.root, 0o711)
    for path in [ws.code, ws.data, ws.out, *ws.code.rglob("*")]:
        os.chown(path, uid, uid)


class LocalExecutor:
    name = "local"

    def run(self, ws: Workspace, limits: Limits, *, job_id: str,
            should_cancel: Callable[[], bool] = lambda: False,
            on_start: Callable[[dict], None] = lambda ref: None) -> RunResult:
        with (claimed_uid(job_id, ws.root) as uid, _private_mounts(uid, ws.root, limits) as private,
              _job_group(job_id, limits, uid) as group):
            return self._run(ws, limits, job_id, uid, private, group, should_cancel, on_start)

    def _run(self, ws: Workspace, limits: Limits, job_id: str, uid: int | None, private: tuple[list[str], dict],
             group: cgroups.JobCgroup | None, should_cancel: Callable[[], bool],
             on_start: Callable[[dict], None]) -> RunResult:
        net_prefix, network = network_isolation()
        user_prefix, user = user_switch(uid)
        if uid is not None:
            _hand_over(ws, uid)
        env = {"PATH": "/usr/bin:/bin", "HOME": str(ws.code), "LANG": "C.UTF-8", "PYTHONHASHSEED": "0",
               "OMP_NUM_THREADS": str(limits.cpu), "SUANSHU_DATA": str(ws.data),
               "SUANSHU_OUTPUT": str(ws.out), "SUANSHU_JOB": job_id}
        mounts, done = private
        cmd = [*(mounts or net_prefix), *user_prefix, sys.executable, "-I", str(ws.code / PROGRAM)]
        sandbox = {"network": network, "user": user,
                   "limits": {"cpu_seconds": max(1, int(limits.cpu * limits.wall_seconds) + 1),
                              "address_space_bytes": max(MIN_ADDRESS_SPACE, limits.memory_gb * _GB),
                              "wall_seconds": limits.wall_seconds}, **done}
        if uid is not None:
            sandbox["cgroup"] = cgroups.describe(group, limits.cpu, limits.memory_gb * _GB, JOB_PROCESSES)
        started = time.monotonic()
        with open(ws.log, "w+b") as log:
            proc = subprocess.Popen(cmd, cwd=ws.code, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, preexec_fn=_limit(limits, uid is not None, group))
            on_start({"kind": "local", "process": process_identity(proc.pid)})  # its own session: pgid = pid
            namespace = _namespace_of(proc.pid) if net_prefix else None
            status, next_check = None, started + CANCEL_CHECK_S
            while proc.poll() is None:
                now = time.monotonic()
                if now - started > limits.wall_seconds:
                    status = "timeout"
                elif now >= next_check:
                    next_check = now + CANCEL_CHECK_S
                    status = "cancelled" if should_cancel() else None
                if status:
                    break
                time.sleep(POLL_S)
            _end(proc, namespace)
            oom_kills = group.oom_kills() if group else 0
            if group:  # the group holds every process the program started, however it left
                group.remove()
            logs = _read_log(log)
        wall = time.monotonic() - started
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # all children so far; see cpu note below
        code = proc.returncode
        if status is None:
            status = "succeeded" if code == 0 else "failed"
        error = {"timeout": f"killed after the time limit of {limits.wall_seconds:g} s",
                 "cancelled": "cancelled by the buyer"}.get(status)
        if status == "timeout" and oom_kills:  # e.g. a pool waiting for a worker the kernel killed
            error += (f" (the kernel had ended {oom_kills} of its processes at the job's memory limit"
                      f" of {limits.memory_gb} GB)")
        if status == "failed":
            error = f"the program exited with {code}" if code > 0 else f"killed by signal {-code}"
            if oom_kills:
                error += f" (at the job's memory limit of {limits.memory_gb} GB)"
            elif code == -signal.SIGXCPU or code == -signal.SIGKILL and "MemoryError" not in logs:
                error += " (a resource limit: CPU time or memory)"
        # RUSAGE_CHILDREN sums every child this process reaped: informational only (billing uses
        # the allocated resources x wall time, as a cloud bills a reserved machine).
        return RunResult(status=status, exit_code=code, logs=logs, wall_seconds=wall,
                         cpu_seconds=usage.ru_utime + usage.ru_stime, sandbox=sandbox, error=error)


LOG_READ = 16 << 20  # bytes of log read back: past any contract's output cap, so the check refuses the rest


def _read_log(log) -> str:
    """The log from the file the program was given (never from its path, which a program could
    replace), at most ``LOG_READ`` bytes."""
    log.seek(0)
    return log.read(LOG_READ).decode("utf-8", errors="replace")


def _end(proc: subprocess.Popen, namespace: str | None) -> None:
    """Kill the program and everything it started, however it ended, before its outputs are
    checked: a child left running could write into the output dir between the check and the
    release, or compute on unmetered. The session takes what stayed in it; a child that left it
    (``setsid``) is still in the job's network namespace, which only the job's processes share."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    if namespace is not None:
        def in_job(pid: int) -> bool:
            return os.readlink(f"/proc/{pid}/ns/net") == namespace

        reaping.kill_until_gone(lambda: reaping.members(in_job))


def _namespace_of(pid: int) -> str | None:
    """The job's network namespace, once ``unshare`` has made it (within milliseconds of the
    start); None if the process ended first. Never ours: a sweep of ours would kill the exchange."""
    own = os.readlink("/proc/self/ns/net")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            namespace = os.readlink(f"/proc/{pid}/ns/net")
        except OSError:
            return None
        if namespace != own:
            return namespace
        time.sleep(0.001)
    return None

