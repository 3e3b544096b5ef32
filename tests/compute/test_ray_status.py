"""The Ray executor's status polling when the job server stops answering for a while.

A Ray dashboard cannot be made to fail one call on cue, so these use a scripted stand-in for the
Job Submission client (the polling logic only); real clusters run in test_ray_jobs.py."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from suanshu.compute.executors import ray as ray_executor
from suanshu.compute.executors import Limits


class ScriptedClient:
    """Answers get_job_status from a script: an exception instance is raised, a string returned."""

    def __init__(self, script: list):
        self.script, self.stopped = list(script), []

    def get_job_status(self, submission):
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, Exception):
            raise step
        return SimpleNamespace(value=step)

    def stop_job(self, submission):
        self.stopped.append(submission)
        raise ConnectionError("still down")

    def get_job_info(self, submission):
        return SimpleNamespace(start_time=1000, end_time=3000, message="", driver_exit_code=0)

    def get_job_logs(self, submission):
        return "done\n"


@pytest.fixture
def limits():
    return Limits(cpu=1, memory_gb=1, wall_seconds=60, accelerators={}, max_output_bytes=1024)


def wait(client, limits):
    executor = ray_executor.RayExecutor("http://127.0.0.1:1")
    return executor._wait(client, "job-1", limits, lambda: False, ray_executor.time.monotonic(), {})


def test_a_few_failed_status_calls_are_a_hiccup_not_a_lost_cluster(monkeypatch, limits):
    monkeypatch.setattr(ray_executor, "POLL_S", 0.01)
    client = ScriptedClient([ConnectionError("hiccup")] * 5 + ["RUNNING", "SUCCEEDED"])
    result = wait(client, limits)
    assert result.status == "succeeded" and result.logs == "done\n"
    assert client.stopped == []


def test_a_cluster_that_stays_silent_is_lost_and_the_job_is_stopped_there(monkeypatch, limits):
    monkeypatch.setattr(ray_executor, "POLL_S", 0.01)
    monkeypatch.setattr(ray_executor, "STATUS_GRACE_S", 0.2)
    client = ScriptedClient(["RUNNING", ConnectionError("gone")])
    result = wait(client, limits)
    assert result.status == "unavailable" and "lost the Ray cluster" in result.error
    assert client.stopped == ["job-1"]  # tried, so it cannot finish there while it runs elsewhere
