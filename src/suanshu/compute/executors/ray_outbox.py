"""Outputs of a Ray job whose worker does not share the exchange's file system: through Ray itself.

Why this path: the Job Submission API carries a job's status and its logs (text), not its files; a
Ray job's own result path is the object store. So the job's entrypoint is a small driver
(``ENTRYPOINT``, shipped in the working dir next to the program) that runs the program in a
subprocess and then:

- **shared file system** (a cluster on the exchange's host, or a shared mount): the exchange put a
  random token in a file of the workspace; if the driver reads that token at that path, the program
  writes straight into the exchange's output dir (``$SUANSHU_OUTPUT``), as before, and the driver
  leaves a marker saying so;
- **otherwise** (a remote cluster): the program writes into a private temp dir on the worker; the
  driver lists it (regular files only; links are reported, not followed), and if the files fit the
  contract's ``max_output_bytes`` packs them as a tar.gz; over the cap it packs nothing and reports
  names and sizes only, so the refusal happens without moving the bytes. Manifest and bytes go into
  the object store, held by a detached actor (``num_cpus=0``: the entrypoint holds the job's CPUs)
  named after the submission, which exits by itself after ``OUTBOX_TTL_S`` if nobody takes them.
  The private dir is removed once packed: outputs made from the view do not stay on the worker.

The exchange takes them with ``fetch``: a short-lived subprocess (Ray Client keeps process-global
state, and the exchange runs jobs on several threads) that connects with Ray Client, gets the
actor's manifest and bytes, kills the actor and writes them to a file; ``unpack`` then extracts only
regular files with safe relative names (tarfile's ``data`` filter), re-checks the cap, and stands a
dangling link in for each link the program made, so the output check refuses it as locally.

Stopping: Ray's ``stop_job`` signals the driver and the children it had at that instant, then
SIGKILLs them 3 s later; a program started a moment after, or the program's own children, would
keep running unmetered. So the driver (started with ``exec``, so it is the process Ray signals)
answers SIGTERM/SIGINT by stopping its whole process group (TERM, ``STOP_GRACE_S``, KILL), and
the program dies with the driver however the driver ends (``PR_SET_PDEATHSIG``, Linux). When the
program ends by itself, what it left running in the group is killed before the outputs are read.

A Ray cluster is shared by its tenants as far as Ray isolates them (job info, named actors and
runtime-env packages are visible to other drivers on the cluster); this path adds no isolation.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

from suanshu.compute.executors import reaping

ENTRY = "suanshu_entry.py"
SHARED_PROBE = "shared-fs"  # in the workspace root: the token the driver must read to use the shared path
SHARED_USED = "shared-fs.used"  # left there by the driver when it did
NAMESPACE = "suanshu"
OUTBOX_TTL_S = 3600
STOP_GRACE_S = 2  # a stopped program's time to end on SIGTERM (Ray SIGKILLs the driver after 3 s)
FETCH_TIMEOUT_S = 300
FETCH_ATTEMPTS = 3

ENTRYPOINT = '''\
"""Suanshu's driver for one job: runs program.py, then returns its outputs (see suanshu.compute.executors.ray_outbox)."""
import io, json, os, shutil, signal, subprocess, sys, tarfile, tempfile, threading, time
''' + inspect.getsource(reaping) + '''

def _die_with_driver(driver=os.getpid()):
    # In the program, before exec: SIGKILL when the driver ends, however it ends (Linux).
    if sys.platform.startswith("linux"):
        import ctypes
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != driver:  # the driver ended before that took hold
            os._exit(137)

def _stop(signum, frame):
    # Ray's stop signals the processes it saw at that moment; a program started just after, or the
    # program's own children, would live on unmetered. So the whole group goes: TERM, then KILL.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    os.killpg(0, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    while time.monotonic() < deadline and program is not None and os.waitpid(program.pid, os.WNOHANG) == (0, 0):
        time.sleep(0.05)
    os.killpg(0, signal.SIGKILL)

GRACE_S, program = ''' + str(STOP_GRACE_S) + ''', None
if os.getpgrp() != os.getpid():  # Ray starts us in a session of our own; if not, the group to stop is made here
    os.setpgid(0, 0)
signal.signal(signal.SIGTERM, _stop)
signal.signal(signal.SIGINT, _stop)

probe, token = os.environ.pop("SUANSHU_SHARED_PROBE"), os.environ.pop("SUANSHU_SHARED_TOKEN")
exchange_out = os.environ.pop("SUANSHU_EXCHANGE_OUTPUT")
outbox, cap = os.environ.pop("SUANSHU_OUTBOX"), int(os.environ.pop("SUANSHU_MAX_OUTPUT_BYTES"))
ttl = float(os.environ.pop("SUANSHU_OUTBOX_TTL_S"))
try:
    with open(probe) as f:
        shared = f.read() == token
except OSError:
    shared = False
out = exchange_out if shared else tempfile.mkdtemp(prefix="suanshu-out-")
program = subprocess.Popen([sys.executable, "-I", "program.py"], env=dict(os.environ, SUANSHU_OUTPUT=out),
                           preexec_fn=_die_with_driver)
code = program.wait()
if sys.platform.startswith("linux"):  # what it left running must not write outputs after they are read
    def _left_in_group(pid):
        return pid != os.getpid() and os.getpgid(pid) == os.getpgrp()
    kill_until_gone(lambda: members(_left_in_group))
sys.stdout.flush()
if shared:
    open(probe + ".used", "w").close()
else:
    files, links, total = [], [], 0
    for root, dirs, names in os.walk(out):
        for name in sorted(names + [d for d in dirs if os.path.islink(os.path.join(root, d))]):
            path = os.path.join(root, name)
            rel = os.path.relpath(path, out)
            if os.path.islink(path):
                links.append(rel)
            elif os.path.isfile(path):
                size = os.path.getsize(path)
                files.append({"name": rel, "bytes": size})
                total += size
    blob = b""
    if total <= cap:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for f in files:
                tar.add(os.path.join(out, f["name"]), arcname=f["name"], recursive=False)
        blob = buf.getvalue()
    shutil.rmtree(out, ignore_errors=True)  # outputs made from the view must not stay on the worker
    manifest = {"files": files, "links": links, "bytes": total, "packed": total <= cap}
    import ray

    ray.init(namespace="''' + NAMESPACE + '''", log_to_driver=False, logging_level="ERROR")

    @ray.remote(num_cpus=0)
    class Outbox:
        def __init__(self, manifest, blob, ttl):
            self.manifest, self.blob = manifest, blob
            threading.Timer(ttl, os._exit, (0,)).start()  # nobody came for them

        def ready(self):
            return True

        def take(self):
            return self.manifest, self.blob

    box = Outbox.options(name=outbox, lifetime="detached").remote(manifest, blob, ttl)
    ray.get(box.ready.remote())
sys.exit(code if code >= 0 else 128 - code)
'''


def fetch(client_address: str, name: str, dest: Path, timeout_s: float = FETCH_TIMEOUT_S,
          attempts: int = FETCH_ATTEMPTS) -> dict | None:
    """The outbox's manifest (its bytes written to ``dest``), or None when there is none.

    Tried up to ``attempts`` times: the outbox stays until a fetch has its bytes, so a retry is safe,
    and Ray Client's proxier sometimes fails to start its per-client server on a loaded head
    ("Starting Ray client server failed": its start-up check races the server process)."""
    errors = []
    for _ in range(attempts):
        try:
            proc = subprocess.run([sys.executable, "-m", __name__, client_address, name, str(dest)],
                                  capture_output=True, text=True, timeout=timeout_s,
                                  env=dict(os.environ, RAY_USAGE_STATS_ENABLED="0"))
        except subprocess.TimeoutExpired:
            errors.append(f"no answer in {timeout_s:g} s")
            continue
        if proc.returncode == 0:
            return json.loads(proc.stdout.strip().splitlines()[-1])
        errors.append(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}")
    raise RuntimeError(f"fetching outputs from {client_address} failed {attempts} times: {'; '.join(errors)}")


def unpack(manifest: dict, blob: Path, out: Path, cap: int) -> list[dict]:
    """Put the fetched outputs into ``out``; returns the files left on the pool (over the cap)."""
    for link in manifest.get("links", []):
        target = _inside(out, link)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to("left-on-the-pool")  # dangling: the check refuses links, nothing reads it
    if not manifest.get("packed"):
        return [{"name": f["name"], "bytes": int(f["bytes"])} for f in manifest.get("files", [])]
    with tarfile.open(blob, "r:gz") as tar:
        members = tar.getmembers()
        if any(not m.isfile() for m in members) or sum(m.size for m in members) > cap:
            raise RuntimeError("the pool returned outputs that are not plain files or exceed the cap")
        for m in members:
            _inside(out, m.name)
        tar.extractall(out, filter="data")
    return []


def _inside(root: Path, name: str) -> Path:
    path = (root / name).resolve()
    if not path.is_relative_to(root.resolve()):
        raise RuntimeError(f"the pool returned an output outside the output dir: {name!r}")
    return root / name


def _main(argv: list[str]) -> int:
    client_address, name, dest = argv
    import ray

    ray.init(address=client_address, namespace=NAMESPACE, logging_level="ERROR", log_to_driver=False)
    try:
        try:
            box = ray.get_actor(name)
        except ValueError:  # no outbox: the program never got that far (cancelled, killed)
            print(json.dumps(None))
            return 0
        manifest, blob = ray.get(box.take.remote(), timeout=FETCH_TIMEOUT_S)
        Path(dest).write_bytes(blob)
        ray.kill(box)
        print(json.dumps(manifest))
        return 0
    finally:
        ray.shutdown()


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
