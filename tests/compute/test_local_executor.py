"""The embedded executor on its own: nothing a program starts outlives its job.

A child left running could write into the output dir between the output check and the release,
or go on computing unmetered. Children that stay in the program's session and children that
leave it (``setsid``) are both ended, whether the program exits, fails or is stopped.
"""

from __future__ import annotations

import re

import pytest

from suanshu.compute.executors import Limits, Workspace, local

from .test_ray_driver import _alive, _wait

LEAVES_CHILDREN = """
import subprocess
stay = subprocess.Popen(["sleep", "600"])
leave = subprocess.Popen(["sleep", "600"], start_new_session=True)
print("children", stay.pid, leave.pid, flush=True)
"""
LIMITS = Limits(cpu=1, memory_gb=1, wall_seconds=60, max_output_bytes=1 << 16)


def _children(logs: str) -> list[int]:
    return [int(pid) for pid in re.search(r"children (\d+) (\d+)", logs).groups()]


@pytest.mark.parametrize(("ending", "status"), [
    ("", "succeeded"),
    ("sys.exit(3)\n", "failed"),
    ("import time; time.sleep(600)\n", "cancelled"),
])
def test_children_of_the_program_end_with_it(tmp_path, ending, status):
    if not local.network_isolation()[0]:
        pytest.skip(f"a child that left the session is found by its network namespace: {local.network_isolation()[1]}")
    cancel = status == "cancelled"
    printed = tmp_path / "printed"

    def should_cancel() -> bool:  # once the children are there
        return cancel and printed.exists()

    with Workspace(LEAVES_CHILDREN + "import sys\n" + ending, {}) as ws:
        def watch() -> bool:
            if ws.log.exists() and "children" in ws.log.read_text():
                printed.touch()
            return should_cancel()

        result = local.LocalExecutor().run(ws, LIMITS, job_id=f"job_{tmp_path.name}", should_cancel=watch)
    assert result.status == status, result.logs
    stay, leave = _children(result.logs)
    assert _wait(lambda: not _alive(stay) and not _alive(leave), 5), "a child of the program outlived its job"


def test_the_job_namespace_is_never_the_exchanges():
    import subprocess

    with subprocess.Popen(["sleep", "0.5"]) as same:  # in our own namespace to its end: nothing to sweep
        try:
            assert local._namespace_of(same.pid) is None
        finally:
            same.kill()


def test_running_jobs_never_share_a_uid_and_temp_files_go_with_the_job(tmp_path):
    import os

    if os.geteuid() != 0 or local.shutil.which("setpriv") is None:
        pytest.skip("per-job uids need root and setpriv")
    with local.claimed_uid("job_same", tmp_path) as first, local.claimed_uid("job_same", tmp_path) as second:
        assert first == local.job_uid("job_same") and second != first  # the same hash, another uid
    with local.claimed_uid("job_same", tmp_path) as again:
        assert again == first  # free again once the first job ended

    program = ("import os, tempfile\n"
               "open(os.path.join(tempfile.gettempdir(), 'left-by-' + os.environ['SUANSHU_JOB']), 'w').write('x')\n"
               "os.makedirs('/dev/shm/dir-left-by-' + os.environ['SUANSHU_JOB'])\n")
    job_id = f"job_{tmp_path.name}"
    with Workspace(program, {}) as ws:
        result = local.LocalExecutor().run(ws, LIMITS, job_id=job_id)
        assert result.status == "succeeded", result.logs
        assert ws.root.exists()  # the workspace is the exchange's to check and remove
    import tempfile
    from pathlib import Path

    assert not (Path(tempfile.gettempdir()) / f"left-by-{job_id}").exists()
    assert not Path(f"/dev/shm/dir-left-by-{job_id}").exists()


def test_blocked_dirs_are_the_topmost_ones_a_job_cannot_search():
    import shutil
    import tempfile
    from pathlib import Path

    base = Path(tempfile.mkdtemp())  # (pytest's tmp_path lies under a dir only its user may search)
    base.chmod(0o755)
    home = base / "home"
    (home / "tools" / "bin").mkdir(parents=True)
    (home / "secret").mkdir()
    (home / "tools" / "bin" / "python").write_text("")
    home.chmod(0o700)
    try:
        blocked = local.blocked_dirs([home / "tools" / "bin" / "python", home / "tools"])
        assert blocked == {home: {"tools"}}  # the needed entry, not the rest of the dir
        deep = local.blocked_dirs([home / "tools" / "bin" / "python", home / "secret"])
        assert deep == {home: {"tools/bin/python", "secret"}}  # at their own depth, not tools/ whole
        home.chmod(0o711)  # others may pass through: nothing to cover
        assert local.blocked_dirs([home / "tools" / "bin" / "python"]) == {}
    finally:
        shutil.rmtree(base)


def test_a_program_runs_the_exchanges_python_and_can_start_it_again():
    """Under its own uid the program still runs this interpreter (not another one the loader falls
    back to when this one's lib dir is out of the uid's reach), and can start it (multiprocessing,
    a subprocess of Python), even where the interpreter lies under a dir only root may search."""
    import sys

    program = ("import subprocess, sys\n"
               "child = subprocess.run([sys.executable, '-c', 'import sys; print(sys.version)'],"
               " capture_output=True, text=True)\n"
               "print('own', sys.version, flush=True)\n"
               "print('child', child.returncode, child.stdout.strip(), child.stderr[-300:], flush=True)\n")
    with Workspace(program, {}) as ws:
        result = local.LocalExecutor().run(ws, LIMITS, job_id="job_interpreter")
    assert result.status == "succeeded", result.logs
    assert f"own {sys.version}\n" in result.logs
    assert f"child 0 {sys.version} " in result.logs, result.logs


def test_a_program_cannot_make_the_exchange_read_for_it(tmp_path):
    """As root the exchange reads the log and copies the outputs: a program that swaps them for
    links to a file only root may read must get nothing out of it (the workspace's own dir is
    root's, and the log is read from the file the program was given)."""
    import os

    from suanshu.market.jobs import stage

    if os.geteuid() != 0 or local.shutil.which("setpriv") is None:
        pytest.skip("per-job uids need root and setpriv")
    secret = tmp_path / "secret"
    secret.write_text("TOP-SECRET")
    secret.chmod(0o600)
    program = f"""
import os
root = os.path.dirname(os.environ["SUANSHU_OUTPUT"])
for swap in (lambda: os.unlink(os.path.join(root, "job.log")), lambda: os.rename(os.environ["SUANSHU_OUTPUT"], root + "/x")):
    try:
        swap()
        print("swapped", flush=True)
    except OSError as e:
        print("refused", e.errno, flush=True)
os.symlink({str(secret)!r}, os.path.join(os.environ["SUANSHU_OUTPUT"], "link"))
"""
    with Workspace(program, {}) as ws:
        result = local.LocalExecutor().run(ws, LIMITS, job_id=f"job_{tmp_path.name}")
        assert result.logs.count("refused 13") == 2 and "swapped" not in result.logs, result.logs
        staged = tmp_path / "staged"
        stage(ws.out, staged, 1 << 20)
    assert (staged / "link").is_symlink() and "TOP-SECRET" not in result.logs  # a link stays a link


def test_staging_follows_no_link_not_even_the_output_dir(tmp_path):
    import os

    from suanshu.market.jobs import stage

    secret_dir = tmp_path / "vault"
    secret_dir.mkdir()
    (secret_dir / "rows.csv").write_text("a,b\n1,2\n")
    out = tmp_path / "out"
    out.symlink_to(secret_dir)  # the output dir itself swapped for a link
    stage(out, tmp_path / "staged", 1 << 20)
    assert not (tmp_path / "staged").exists()
    real = tmp_path / "real"
    (real / "sub").mkdir(parents=True)
    (real / "ok.csv").write_text("x\n")
    (real / "sub" / "deep.txt").write_text("y")
    os.mkfifo(real / "pipe")  # reading it would block: skipped
    (real / "dir-link").symlink_to(secret_dir)
    stage(real, tmp_path / "staged2", 1 << 20)
    got = sorted(str(p.relative_to(tmp_path / "staged2")) for p in (tmp_path / "staged2").rglob("*"))
    assert got == ["dir-link", "ok.csv", "sub", "sub/deep.txt"] and (tmp_path / "staged2" / "dir-link").is_symlink()


def test_a_job_has_temp_dirs_of_its_own(tmp_path):
    """What the exchange or another job left in /tmp is not there for the program, and what the
    program writes there, however deep, is gone with it; its workspace stays reachable."""
    import os
    import tempfile
    from pathlib import Path

    if os.geteuid() != 0 or local.network_isolation()[0] != local.ROOT_NETWORK:
        pytest.skip("private temp dirs need root and a mount namespace")
    other = Path(tempfile.gettempdir()) / f"others-{tmp_path.name}"
    other.write_text("not the job's")
    other.chmod(0o644)  # readable by anyone: only the private tmpfs keeps it out of sight
    deep = f"deep-{tmp_path.name}"
    program = (f"import os, tempfile\n"
               f"print('sees', os.path.exists({str(other)!r}), sorted(os.listdir('/dev/shm')), flush=True)\n"
               f"os.makedirs(os.path.join(tempfile.gettempdir(), {deep!r}, 'a', 'b'))\n"
               f"open(os.path.join(tempfile.gettempdir(), {deep!r}, 'a', 'b', 'f'), 'w').write('x')\n"
               "open(os.path.join(os.environ['SUANSHU_OUTPUT'], 'result.txt'), 'w').write('done')\n")
    try:
        with Workspace(program, {}) as ws:
            result = local.LocalExecutor().run(ws, LIMITS, job_id=f"job_{tmp_path.name}")
            assert result.status == "succeeded", result.logs
            assert (ws.out / "result.txt").read_text() == "done"  # the workspace was bound back, writable
        assert "sees False []" in result.logs
        assert not (Path(tempfile.gettempdir()) / deep).exists()
        assert "private" in result.sandbox["temp"] and "/dev/shm" in result.sandbox["temp"]
    finally:
        other.unlink()


def test_kept_under_a_temp_dir_are_the_topmost_paths():
    from pathlib import Path

    temp = Path("/tmp")
    kept = local.kept_under(temp, [Path("/tmp/ws"), Path("/tmp/venv"), Path("/tmp/venv/lib"), Path("/opt/x"), temp])
    assert kept == [Path("venv"), Path("ws")]


def _job_groups_here() -> bool:
    import os

    from suanshu.compute.executors import cgroups

    if os.geteuid() != 0:
        return False
    probe = cgroups.create("probe", 1, 1 << 30, 8)
    if probe is None:
        return False
    probe.remove()
    return {"memory", "cpu"} <= set(probe.dirs)


SPLIT_MEMORY = """
import subprocess, sys
hog = "b = bytearray(700 << 20); b[::4096] = b'x' * len(b[::4096]); import time; time.sleep(3)"
children = [subprocess.Popen([sys.executable, "-c", hog]) for _ in range(2)]
print("children", [c.wait() for c in children], flush=True)
"""


def test_memory_is_limited_for_the_whole_job_not_each_process():
    """Two processes of 700 MB each: each is under the per-process limit, together over the
    job's 1 GB, so the kernel ends one of them."""
    if not _job_groups_here():
        pytest.skip("no writable memory and cpu cgroup controllers here")
    with Workspace(SPLIT_MEMORY, {}) as ws:
        result = local.LocalExecutor().run(ws, LIMITS, job_id="job_split_memory")
    assert result.status == "succeeded", result.logs
    codes = [int(c) for c in re.search(r"children \[(-?\d+), (-?\d+)\]", result.logs).groups()]
    assert -9 in codes, result.logs
    assert "memory 1024 MiB" in result.sandbox["cgroup"]


def test_a_job_over_its_memory_is_told_so():
    if not _job_groups_here():
        pytest.skip("no writable memory and cpu cgroup controllers here")
    hog = "b = bytearray(1500 << 20)\nb[::4096] = b'x' * len(b[::4096])\n"  # under RLIMIT_AS, over the job's 1 GB
    with Workspace(hog, {}) as ws:
        result = local.LocalExecutor().run(ws, LIMITS, job_id="job_over_memory")
    assert result.status == "failed"
    assert result.error == "killed by signal 9 (at the job's memory limit of 1 GB)"


def test_a_job_gets_the_cores_it_asked_for_and_no_more():
    """Two busy processes in a one-core job: together they get one core's time (without the
    quota, two cores here; a busy machine only lowers what they get)."""
    if not _job_groups_here():
        pytest.skip("no writable memory and cpu cgroup controllers here")
    spin = ("import multiprocessing as mp, os, time\n"
            "def spin(_):\n"
            "    t = time.time()\n"
            "    while time.time() - t < 1.5: pass\n"
            "    return sum(os.times()[:2])\n"
            "t = time.time()\n"
            "with mp.Pool(2) as p: cpu = sum(p.map(spin, range(2)))\n"
            "print('wall', time.time() - t, 'cpu', cpu, flush=True)\n")
    with Workspace(spin, {}) as ws:
        result = local.LocalExecutor().run(ws, LIMITS, job_id="job_two_spinners")
    assert result.status == "succeeded", result.logs
    wall, cpu = (float(x) for x in re.search(r"wall (\S+) cpu (\S+)", result.logs).groups())
    assert cpu <= 1.25 * wall, result.logs
