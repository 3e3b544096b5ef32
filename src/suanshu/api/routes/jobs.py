"""Compute-to-data jobs: submit under a contract, follow the states, fetch checked outputs and the bill."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field, StrictFloat, StrictInt

from suanshu.api.deps import MAX_INT, ActorDep, ExchangeDep
from suanshu.api.idempotency import IdempotencyDep
from suanshu.api.pagination import Page, PageDep
from suanshu.market import jobs

router = APIRouter(tags=["jobs"])

EXAMPLE_PROGRAM = """import os, pyarrow.parquet as pq
t = pq.read_table(os.path.join(os.environ["SUANSHU_DATA"], "TABLE.parquet"))
pq.write_table(t.group_by("city").aggregate([("temperature_c", "mean")]),
               os.path.join(os.environ["SUANSHU_OUTPUT"], "by_city.parquet"))"""


class JobIn(BaseModel):
    program: str = Field(description="Python source; reads $SUANSHU_DATA/<table>.parquet, writes to "
                                     "$SUANSHU_OUTPUT", examples=[EXAMPLE_PROGRAM])
    cpu: StrictInt = Field(1, ge=1, le=MAX_INT)
    memory_gb: StrictInt = Field(1, ge=1, le=MAX_INT)
    hours: StrictFloat = Field(1.0, gt=0, description="Wall-time limit; the hold covers this many hours")
    accelerators: dict[str, Annotated[StrictInt, Field(ge=0, le=MAX_INT)]] = Field(
        default_factory=dict, examples=[{"ascend-910b": 1}])


@router.post("/contracts/{contract_id}/jobs", status_code=202)
def submit(contract_id: str, body: JobIn, ex: ExchangeDep, actor: ActorDep, idem: IdempotencyDep):
    """Buyer: submit a program under a job-mode contract. It is placed and its cost held at once, then
    runs in the background: follow ``GET /jobs/{id}`` (queued -> placed -> running -> succeeded | failed |
    denied | cancelled)."""

    def work() -> dict:
        job = jobs.submit(ex, actor, contract_id, body.program,
                          {"cpu": body.cpu, "memory_gb": body.memory_gb, "hours": body.hours,
                           "accelerators": body.accelerators})
        if job.state == "placed":
            jobs.run_in_background(ex, job.id)
        return jobs.job_json(job)

    return idem.run(body.model_dump(), work, status=202)


@router.get("/jobs", response_model=Page[dict])
def list_jobs(ex: ExchangeDep, actor: ActorDep, page: PageDep, contract: str | None = Query(None)):
    """Jobs visible to the caller: its own as buyer, those on its data as provider, all for the operator."""
    return page.of(jobs.list_jobs(ex, actor, contract, after=page.after, limit=page.fetch), jobs.job_json)


@router.get("/jobs/{job_id}")
def get_job(job_id: str, ex: ExchangeDep, actor: ActorDep) -> dict:
    """State, placement (pool, cost breakdown, why), metering, the output check and the receipt (the bill)."""
    return jobs.job_json(jobs.get_job(ex, actor, job_id))


@router.get("/jobs/{job_id}/logs", response_class=PlainTextResponse)
def logs(job_id: str, ex: ExchangeDep, actor: ActorDep) -> str:
    """Buyer: stdout and stderr, released once the job has finished and its outputs passed the check."""
    return jobs.logs(ex, actor, job_id)


@router.post("/jobs/{job_id}/cancel")
def cancel(job_id: str, ex: ExchangeDep, actor: ActorDep) -> dict:
    """Buyer: cancel; a job that has not started releases its hold at once, a running one is stopped."""
    return jobs.job_json(jobs.cancel(ex, actor, job_id))


@router.get("/jobs/{job_id}/outputs")
def outputs(job_id: str, ex: ExchangeDep, actor: ActorDep) -> dict:
    """Buyer: the checked outputs of a succeeded job (base64), each with its size and SHA-256."""
    return {"job": job_id, "files": [dict(meta, content_base64=base64.b64encode(body).decode())
                                     for meta, body in jobs.output_files(ex, actor, job_id)]}
