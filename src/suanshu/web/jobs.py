"""Buyer: compute-to-data jobs (``market.jobs``): submit a program under a job-mode contract,
follow its placement, state, bill, logs and released outputs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from suanshu.core.errors import SuanshuError
from suanshu.core.orgs import Role
from suanshu.market import jobs, workspace
from suanshu.web import errors
from suanshu.web.auth import Posted, User, need
from suanshu.web.render import keyset_page, page

router = APIRouter(include_in_schema=False)


@router.get("/jobs")
def job_list(request: Request, who: User):
    need(who, Role.BUYER, Role.OPERATOR)
    ex = request.app.state.exchange
    items, pages = keyset_page(request, "after", lambda after, n: jobs.list_jobs(ex, who.actor, after=after, limit=n))
    titles = workspace.contract_titles(ex, {j.contract_id for j in items})
    return page(request, "jobs.html", items=items, titles=titles, pages=pages)


@router.post("/contracts/{contract_id}/jobs")
def submit(request: Request, who: Posted, contract_id: str, program: Annotated[str, Form()],
           cpu: Annotated[int, Form()] = 1, memory_gb: Annotated[int, Form()] = 1,
           hours: Annotated[float, Form()] = 1.0):
    need(who, Role.BUYER)
    ex = request.app.state.exchange
    try:
        job = jobs.submit(ex, who.actor, contract_id, program,
                          {"cpu": cpu, "memory_gb": memory_gb, "hours": hours, "accelerators": {}})
    except SuanshuError as err:
        return page(request, "message.html", status_code=err.http_status, error=errors.box(err))
    if job.state == "placed":
        jobs.run_in_background(ex, job.id)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


@router.get("/jobs/{job_id}")
def job(request: Request, who: User, job_id: str):
    ex = request.app.state.exchange
    try:
        found = jobs.get_job(ex, who.actor, job_id)
    except SuanshuError as err:
        return page(request, "message.html", status_code=err.http_status, error=errors.box(err))
    logs = outputs = None
    if found.state in jobs.FINISHED and found.buyer_org_id == who.actor.org_id:
        logs = jobs.logs(ex, who.actor, job_id)
        if found.state == "succeeded":
            outputs = [meta for meta, _body in jobs.output_files(ex, who.actor, job_id)]
    return page(request, "job.html", j=found, logs=logs, outputs=outputs, finished=found.state in jobs.FINISHED)
