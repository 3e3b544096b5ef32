"""The driver a Ray job runs (``ray_outbox.ENTRYPOINT``), run here as Ray runs it but without a cluster:
``sh -c "exec python -I suanshu_entry.py"`` in a session of its own.

Ray's ``stop_job`` signals the processes it saw at that moment (the driver, and the children it had
then), and SIGKILLs them 3 s later. A buyer's program started just after, or its own children,
would keep running unmetered after the exchange marked the job cancelled.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from suanshu.compute.executors import ray_outbox as outbox
from suanshu.compute.executors import reaping

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process groups, /proc")

# The program starts a child of its own, writes both pids, and sleeps.
PROGRAM = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
with open(os.environ["PIDS_FILE"] + ".tmp", "w") as f:
    f.write(f"{os.getpid()} {child.pid}")
os.rename(os.environ["PIDS_FILE"] + ".tmp", os.environ["PIDS_FILE"])
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    return reaping.running(pid)


def _wait(predicate, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.fixture
def driver(tmp_path):
    """The driver running the program, as Ray starts it; yields (driver, program pid, its child's pid)."""
    code, out = tmp_path / "code", tmp_path / "out"
    code.mkdir()
    out.mkdir()
    (code / "program.py").write_text(PROGRAM)
    (code / outbox.ENTRY).write_text(outbox.ENTRYPOINT)
    (tmp_path / outbox.SHARED_PROBE).write_text("token")
    pids = tmp_path / "pids"
    env = dict(os.environ, PIDS_FILE=str(pids), SUANSHU_SHARED_PROBE=str(tmp_path / outbox.SHARED_PROBE),
               SUANSHU_SHARED_TOKEN="token", SUANSHU_EXCHANGE_OUTPUT=str(out), SUANSHU_OUTBOX="unused",
               SUANSHU_MAX_OUTPUT_BYTES="1000", SUANSHU_OUTBOX_TTL_S="60",
               PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    proc = subprocess.Popen(f"exec python -I {outbox.ENTRY}", shell=True, cwd=code, env=env,
                            start_new_session=True)
    try:
        assert _wait(pids.exists), "the program did not start"
        program, child = map(int, pids.read_text().split())
        yield proc, program, child
    finally:
        for pid in (proc.pid, *(map(int, pids.read_text().split()) if pids.exists() else ())):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()


def test_stopping_the_driver_alone_ends_the_program_and_its_children(driver):
    proc, program, child = driver
    assert _alive(program) and _alive(child)
    os.kill(proc.pid, signal.SIGTERM)  # what Ray signals when the program had not started yet when it looked
    assert proc.wait(timeout=20) != 0
    assert _wait(lambda: not _alive(program) and not _alive(child)), "the stopped job's program lives on"


def test_a_driver_killed_outright_takes_its_program_with_it(driver):
    proc, program, _child = driver
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=20)
    assert _wait(lambda: not _alive(program)), "the program outlived its driver"


def test_a_program_that_ends_by_itself_still_returns_its_exit_code(tmp_path):
    code, out = tmp_path / "code", tmp_path / "out"
    code.mkdir()
    out.mkdir()
    (code / "program.py").write_text("import os, sys\nopen(os.path.join(os.environ['SUANSHU_OUTPUT'], 'r.txt'), 'w').write('ok')\nsys.exit(3)\n")
    (code / outbox.ENTRY).write_text(outbox.ENTRYPOINT)
    (tmp_path / outbox.SHARED_PROBE).write_text("token")
    env = dict(os.environ, SUANSHU_SHARED_PROBE=str(tmp_path / outbox.SHARED_PROBE), SUANSHU_SHARED_TOKEN="token",
               SUANSHU_EXCHANGE_OUTPUT=str(out), SUANSHU_OUTBOX="unused", SUANSHU_MAX_OUTPUT_BYTES="1000",
               SUANSHU_OUTBOX_TTL_S="60")
    done = subprocess.run([sys.executable, "-I", outbox.ENTRY], cwd=code, env=env, timeout=60, check=False)
    assert done.returncode == 3
    assert (out / "r.txt").read_text() == "ok" and (tmp_path / outbox.SHARED_USED).exists()


def test_what_a_finished_program_left_running_is_ended(tmp_path):
    code, out = tmp_path / "code", tmp_path / "out"
    code.mkdir()
    out.mkdir()
    (code / "program.py").write_text(
        "import subprocess\nchild = subprocess.Popen(['sleep', '600'])\nprint('child', child.pid, flush=True)\n")
    (code / outbox.ENTRY).write_text(outbox.ENTRYPOINT)
    (tmp_path / outbox.SHARED_PROBE).write_text("token")
    env = dict(os.environ, SUANSHU_SHARED_PROBE=str(tmp_path / outbox.SHARED_PROBE), SUANSHU_SHARED_TOKEN="token",
               SUANSHU_EXCHANGE_OUTPUT=str(out), SUANSHU_OUTBOX="unused", SUANSHU_MAX_OUTPUT_BYTES="1000",
               SUANSHU_OUTBOX_TTL_S="60")
    done = subprocess.run([sys.executable, "-I", outbox.ENTRY], cwd=code, env=env, timeout=60, check=False,
                          capture_output=True, text=True, start_new_session=True)
    assert done.returncode == 0, done.stderr
    child = int(done.stdout.split("child ")[1].split()[0])
    try:
        assert _wait(lambda: not _alive(child), 5), "the program's child outlived the job"
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)
