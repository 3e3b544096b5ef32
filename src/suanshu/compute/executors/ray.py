"""Ray pools: jobs go to a Ray cluster through the Job Submission API (the dashboard's job server).

``JobSubmissionClient(address).submit_job(entrypoint="exec python -I suanshu_entry.py",
runtime_env={"working_dir": <workspace code dir>, "env_vars": {...}}, entrypoint_num_cpus=cpu,
entrypoint_memory=bytes, entrypoint_resources={"NPU": n})``: Ray uploads the workspace (program + governed Parquet view) to
the cluster and runs the entrypoint on a node that has the resources. Accelerator types map onto Ray
resources: ``ascend-*`` -> ``NPU`` (how Ray names Ascend), ``nvidia-*`` -> GPUs, anything else -> a
custom resource of the same name. Status, logs and cancellation (``stop_job``) come from the same API.

Outputs: the entrypoint is a small driver (``ray_outbox.ENTRYPOINT``) that runs the program. Where
the worker shares the exchange's file system (it reads a token the exchange wrote in the workspace),
the program writes straight into the exchange's output dir; otherwise its outputs come back through
Ray: packed on the worker (size-capped), held in the object store by a detached actor, and fetched
with Ray Client (``ray_outbox``). The pool's address names the Ray Client server after a ``#``:
``http://head:8265#client=head:10001`` (without it, Ray's default port 10001 on the same host). The
same output checks run on what arrives. Isolation inside a Ray worker is Ray's (no network
namespace), and the receipt says so.

A cluster that cannot be reached, or that stops answering, is ``unavailable``: the caller blocks the
pool and fails over (SkyPilot's blocked-resources loop), and the failed attempt is not charged.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from suanshu.compute.executors import Limits, RunResult, Workspace
from suanshu.compute.executors import ray_outbox as outbox

POLL_S = 0.1
# How long status calls may fail in a row before the cluster counts as lost: one failed call is
# often a dashboard hiccup, and giving up at once would run the job twice (here and elsewhere).
STATUS_GRACE_S = 5.0
log = logging.getLogger(__name__)
TERMINAL = {"SUCCEEDED": "succeeded", "FAILED": "failed", "STOPPED": "cancelled"}


def ray_resources(accelerators: dict[str, int]) -> tuple[float | None, dict[str, float]]:
    """(GPUs, custom resources) for the entrypoint, from the job's accelerators."""
    gpus, custom = 0, {}
    for kind, n in accelerators.items():
        if not n:
            continue
        if kind.startswith("nvidia-"):
            gpus += n
        elif kind.startswith("ascend-"):
            custom["NPU"] = custom.get("NPU", 0) + n
        else:
            custom[kind] = custom.get(kind, 0) + n
    return (gpus or None), {k: float(v) for k, v in custom.items()}


class RayExecutor:
    name = "ray"

    def __init__(self, address: str):
        api, _, extra = address.partition("#")
        self.address = api  # the job server (dashboard), or a Ray Client address Ray resolves to it
        host = api.split("://", 1)[-1].rsplit(":", 1)[0]
        self.client_address = ("ray://" + extra.removeprefix("client=")) if extra.startswith("client=") else \
            api if api.startswith("ray://") else f"ray://{host}:10001"

    def client(self):
        """A Job Submission client; None when the cluster cannot be reached."""
        from ray.job_submission import JobSubmissionClient

        try:
            return JobSubmissionClient(self.address)
        except (ConnectionError, RuntimeError, OSError, ValueError):
            return None

    def run(self, ws: Workspace, limits: Limits, *, job_id: str,
            should_cancel: Callable[[], bool] = lambda: False,
            on_start: Callable[[dict], None] = lambda ref: None) -> RunResult:
        started = time.monotonic()
        sandbox = {"network": "none (a Ray worker: the cluster's own isolation)", "user": "the Ray worker's",
                   "limits": {"wall_seconds": limits.wall_seconds, "cpu": limits.cpu,
                              "memory_gb": limits.memory_gb}, "cluster": self.address}
        client = self.client()
        if client is None:
            return RunResult("unavailable", None, "", 0.0, sandbox=sandbox,
                             error=f"the Ray cluster at {self.address} cannot be reached")
        gpus, custom = ray_resources(limits.accelerators)
        submission = f"{job_id}-{int(time.time() * 1000)}"
        token = secrets.token_hex(16)
        (ws.root / outbox.SHARED_PROBE).write_text(token)
        (ws.code / outbox.ENTRY).write_text(outbox.ENTRYPOINT)
        try:
            client.submit_job(
                entrypoint=f"exec python -I {outbox.ENTRY}", submission_id=submission,
                runtime_env={"working_dir": str(ws.code),
                             "env_vars": {"SUANSHU_DATA": "data", "SUANSHU_JOB": job_id,
                                          "OMP_NUM_THREADS": str(limits.cpu),
                                          "SUANSHU_SHARED_PROBE": str(ws.root / outbox.SHARED_PROBE),
                                          "SUANSHU_SHARED_TOKEN": token, "SUANSHU_EXCHANGE_OUTPUT": str(ws.out),
                                          "SUANSHU_OUTBOX": _outbox_name(submission),
                                          "SUANSHU_MAX_OUTPUT_BYTES": str(limits.max_output_bytes),
                                          "SUANSHU_OUTBOX_TTL_S": str(outbox.OUTBOX_TTL_S)}},
                entrypoint_num_cpus=limits.cpu, entrypoint_num_gpus=gpus,
                entrypoint_resources=custom or None, metadata={"suanshu_job": job_id})
        except Exception as err:  # noqa: BLE001  (the SDK raises bare RuntimeError/ConnectionError)
            return RunResult("unavailable", None, "", time.monotonic() - started, sandbox=sandbox,
                             error=f"the Ray cluster refused the job: {err}", ref=submission)
        on_start({"kind": "ray", "id": submission})
        result = self._wait(client, submission, limits, should_cancel, started, sandbox)
        if result.status in ("succeeded", "failed"):  # the driver ran to its end (a stopped one left nothing)
            self._collect(ws, submission, limits, result)
        return result

    def _collect(self, ws: Workspace, submission: str, limits: Limits, result: RunResult) -> None:
        """Outputs of a worker that does not share our file system: fetched through Ray, unpacked into
        ``ws.out`` (only for a program that succeeded; otherwise just cleared off the cluster)."""
        if (ws.root / outbox.SHARED_USED).exists():
            result.sandbox["outputs"] = "written to the exchange's file system (shared with the worker)"
            return
        result.sandbox["outputs"] = f"through Ray: packed on the worker, fetched with Ray Client ({self.client_address})"
        blob = ws.root / "outputs.tar.gz"
        try:
            manifest = outbox.fetch(self.client_address, _outbox_name(submission), blob)
            if result.status == "succeeded" and manifest is not None:
                result.withheld = outbox.unpack(manifest, blob, ws.out, limits.max_output_bytes)
            elif result.status == "succeeded":
                raise RuntimeError("the job left no outputs on the cluster")
        except Exception as err:  # noqa: BLE001  (the program ran: its outputs are lost, not released)
            if result.status == "succeeded":
                result.status, result.error = "failed", f"the outputs could not be fetched from the pool: {err}"
            else:
                log.warning("could not clear the outputs of %s off %s: %r", submission, self.client_address, err)
        finally:
            blob.unlink(missing_ok=True)

    def _wait(self, client, submission: str, limits: Limits, should_cancel, started: float,
              sandbox: dict) -> RunResult:
        status, failing_since = None, None
        while status is None:
            time.sleep(POLL_S)
            try:
                state = str(client.get_job_status(submission).value)
            except Exception as err:  # noqa: BLE001
                failing_since = failing_since or time.monotonic()
                if time.monotonic() - failing_since < STATUS_GRACE_S:
                    continue
                _stop_quietly(client, submission)  # if it still runs there, it must not run twice
                return RunResult("unavailable", None, "", time.monotonic() - started, sandbox=sandbox,
                                 error=f"lost the Ray cluster while the job ran: {err}", ref=submission)
            failing_since = None
            status = TERMINAL.get(state)
            if status is None and (time.monotonic() - started > limits.wall_seconds or should_cancel()):
                timed_out = time.monotonic() - started > limits.wall_seconds
                client.stop_job(submission)
                _wait_stopped(client, submission)
                status = "timeout" if timed_out else "cancelled"
        info = client.get_job_info(submission)
        wall = ((info.end_time or 0) - (info.start_time or 0)) / 1000 if info.end_time else \
            time.monotonic() - started
        error = None
        if status == "failed":
            error = info.message or "the program failed"
        elif status == "timeout":
            error = f"stopped after the time limit of {limits.wall_seconds:g} s"
        return RunResult(status=status, exit_code=getattr(info, "driver_exit_code", None),
                         logs=client.get_job_logs(submission), wall_seconds=max(0.0, wall),
                         sandbox=sandbox, error=error, ref=submission)

    def stop(self, submission: str) -> None:
        client = self.client()
        if client is not None:
            client.stop_job(submission)


def _stop_quietly(client, submission: str) -> None:
    """Best effort: a cluster that stopped answering may not take this either."""
    try:
        client.stop_job(submission)
    except Exception as err:  # noqa: BLE001
        log.warning("could not stop %s on a cluster that stopped answering: %r", submission, err)


def _outbox_name(submission: str) -> str:
    return f"suanshu-out-{submission}"


def _wait_stopped(client, submission: str, timeout_s: float = 30.0) -> None:
    """Until Ray reports the job ended, asking again each second: Ray drops a stop that finds no
    supervisor for the job (``stop_job`` answers False), and the job would then run its course."""
    deadline, asked = time.monotonic() + timeout_s, time.monotonic()
    while str(client.get_job_status(submission).value) not in TERMINAL:
        if time.monotonic() > deadline:
            log.error("Ray has not stopped %s after %g s; it may still run on the cluster", submission, timeout_s)
            return
        if time.monotonic() - asked >= 1.0:
            client.stop_job(submission)
            asked = time.monotonic()
        time.sleep(POLL_S)


# -- a local cluster (tests, benchmarks, the demo) ---------------------------------------------------

# Ray's workers listen on 10002-19999 by default; the kernel hands out ephemeral ports above this.
_PORTS_FROM = 20000


def _free_port() -> int:
    """A port nothing listens on, between Ray's worker ports and the kernel's ephemeral range.

    Ray binds the ports we choose seconds later. A port from the ephemeral range (what binding to
    port 0 gives) can meanwhile become the local end of any outgoing connection: the job agent's
    port was taken that way once, the agent could not bind, and the cluster never came up."""
    import random
    import socket

    try:
        ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral = 32768
    for _ in range(1000):
        port = random.randrange(_PORTS_FROM, max(ephemeral, _PORTS_FROM + 1000))
        with socket.socket() as s:
            try:
                s.bind(("", port))  # every address: Ray's agent binds the node's, not loopback
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port between {_PORTS_FROM} and {ephemeral}")


@contextmanager
def local_cluster(*, num_cpus: int = 1, resources: dict[str, float] | None = None, log_path: str | None = None,
                  timeout_s: float = 300.0, client_port: int | None = None,
                  hide: str | Path | None = None) -> Iterator[str]:
    """``ray start --head --block`` on loopback; yields the job server's address (the dashboard).

    The interpreter's bin dir leads PATH, so ``python`` in an entrypoint is this environment's. Stopped
    by signalling the process group we started (never ``ray stop``, which stops every cluster on the
    host). The raylet waits for the dashboard agent longer than Ray's default: a loaded machine
    (two shared cores) starts it slowly.

    Every port the head listens on is a free one chosen here (``_free_port``: outside Ray's worker
    ports and the kernel's ephemeral range), so several clusters can run on one host
    (other test runs, a benchmark): Ray's fixed defaults (the dashboard agent's HTTP port 52365, the
    Ray Client server's 10001) would make the second cluster's agent fail to bind, and that cluster
    answer every submission with "No available agent to submit job" (a pool that looks up but takes
    no job). It is up once the job server lists jobs *and* the head's job agent answers.

    ``client_port``: the Ray Client server's port (a free one when None). ``hide``: a directory the
    cluster sees empty (a tmpfs over it in a new mount namespace; root only): where the exchange
    makes its workspaces, so the cluster cannot see them, as one on another host could not. Only
    that directory: hiding all of /tmp would also hide an interpreter that lives under it."""
    ray_bin = Path(sys.executable).parent / "ray"
    gcs, dashboard, agent = (_free_port() for _ in range(3))
    client = client_port or _free_port()
    env = dict(os.environ, RAY_agent_register_timeout_ms="300000", RAY_USAGE_STATS_ENABLED="0",
               PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}")
    log = open(log_path or os.devnull, "w")  # noqa: SIM115  (closed in finally)
    own_tmp = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
               'mount -t tmpfs suanshu-ray "$0" && exec "$@"', str(hide)] if hide else []
    proc = subprocess.Popen(
        [*own_tmp, str(ray_bin), "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={gcs}",
         "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}", f"--dashboard-agent-listen-port={agent}",
         f"--ray-client-server-port={client}", f"--num-cpus={num_cpus}",
         f"--resources={json.dumps(resources or {})}", "--disable-usage-stats"],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    address = f"http://127.0.0.1:{dashboard}"
    try:
        _wait_up(address, f"http://127.0.0.1:{agent}", proc, timeout_s)
        yield address
    finally:
        _stop_group(proc)
        log.close()


def _wait_up(address: str, agent: str, proc: subprocess.Popen, timeout_s: float) -> None:
    """Until the job server answers and the head's job agent (which runs submitted jobs) is healthy."""
    import requests
    from ray.job_submission import JobSubmissionClient

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ray start exited with {proc.returncode}")
        try:
            JobSubmissionClient(address).list_jobs()
            if requests.get(f"{agent}/api/local_raylet_healthz", timeout=10).status_code == 200:
                return
        except Exception:  # noqa: BLE001  (not up yet)
            pass
        time.sleep(1)
    raise RuntimeError(f"the Ray cluster at {address} (job agent {agent}) did not come up in {timeout_s:.0f} s")


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM the group (Ray's own shutdown), then SIGKILL what is left of it (gcs_server lingers)."""
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                os.killpg(proc.pid, 0)  # anyone left in the group?
            except ProcessLookupError:
                proc.poll()
                return
            proc.poll()
            time.sleep(0.2)
