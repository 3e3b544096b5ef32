"""Buyer: compute-to-data jobs (``market.jobs``): submit a program under a job-mode contract,
follow its placement, state, bill, logs and released outputs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from suanshu.core.clock import local
from suanshu.core.errors import SuanshuError
from suanshu.core.money import format_fen
from suanshu.core.orgs import Role
from suanshu.market import jobs, workspace
from suanshu.web import errors, forms
from suanshu.web.auth import Posted, User, need
from suanshu.web.contracts import detail as contract_detail
from suanshu.web.i18n import _
from suanshu.web.render import keyset_page, page

router = APIRouter(include_in_schema=False)
OUTCOMES = {"lost": lambda: _("the runner stopped; tried again"), "unavailable": lambda: _("the pool was down; moved on")}


def _when(text: str | None) -> str:
    return local(datetime.fromisoformat(text)) if text else "-"


def placement_rows(j) -> list[tuple[str, str]]:
    """Where and at what price the job runs, for people: pool, region, price parts in ¥, Beijing times,
    attempts. Executor internals (host, pid, temp paths, handles) are left out."""
    p, rows = j.placement or {}, []
    names = {p.get("pool"): p.get("pool_name")} if p.get("pool_name") else {}
    if j.pool_id or p.get("pool"):
        rows.append((_("Pool"), names.get(p.get("pool")) or j.pool_id or p["pool"]))
    if p.get("region"):
        rows.append((_("Region"), p["region"]))
    b = p.get("breakdown") or {}
    if b:
        rows.append((_("Compute"), _("%(hours)s h × %(rate)s per hour = %(cost)s")
                     % {"hours": b["hours"], "rate": format_fen(b["fen_per_hour"]["total"]),
                        "cost": format_fen(b["compute"])}))
        if b.get("data_gb"):
            rows.append((_("Data transfer"), _("%(gb)s GB × %(rate)s per GB = %(cost)s")
                         % {"gb": b["data_gb"], "rate": format_fen(b["transfer_fen_per_gb"]),
                            "cost": format_fen(b["transfer"])}))
        rows.append((_("Compute price at most"), format_fen(b["cost"])))
    if p.get("award"):
        rows.append((_("Won in the demand's auction at"), format_fen(p["award"]["price_fen"])))
    if p.get("hold_fen"):
        rows.append((_("Held when placed (data and compute)"), format_fen(p["hold_fen"])))
    if p.get("waiting"):
        w = p["waiting"]
        rows.append((_("Waiting for a pool"), f"{w.get('reason', '')} ({w.get('code', '')}) · {_when(w.get('since'))}"))
    for n, a in enumerate(p.get("attempts", []), 1):
        outcome = OUTCOMES.get(a.get("outcome"))
        text = _("%(pool)s, started %(time)s") % {"pool": names.get(a.get("pool")) or a.get("pool", "-"),
                                                    "time": _when(a.get("started_at"))}
        rows.append((_("Attempt %(n)s") % {"n": n}, text + (f"; {outcome()}" if outcome else "")))
    if j.finished_at:
        rows.append((_("Finished (Beijing time)"), local(j.finished_at)))
    return rows


@router.get("/jobs")
def job_list(request: Request, who: User):
    need(who, Role.BUYER, Role.OPERATOR)
    ex = request.app.state.exchange
    items, pages = keyset_page(request, "after", lambda after, n: jobs.list_jobs(ex, who.actor, after=after, limit=n))
    titles = workspace.contract_titles(ex, {j.contract_id for j in items})
    return page(request, "jobs.html", items=items, titles=titles, pages=pages)


@router.post("/contracts/{contract_id}/jobs")
def submit(request: Request, who: Posted, contract_id: str, program: Annotated[str, Form()] = "",
           cpu: Annotated[str, Form()] = "1", memory_gb: Annotated[str, Form()] = "1",
           hours: Annotated[str, Form()] = "1", request_key: Annotated[str, Form()] = ""):
    """Submit a job from the contract page. Like the query form, the form carries a key of its own:
    a double click or a resent form submits (and holds money for) one job, not two."""
    need(who, Role.BUYER)
    ex = request.app.state.exchange

    def work() -> dict:
        job = jobs.submit(ex, who.actor, contract_id, program,
                          {"cpu": forms.whole(cpu, "job.bad_request", "CPU"),
                           "memory_gb": forms.whole(memory_gb, "job.bad_request", "memory_gb"),
                           "hours": forms.decimal(hours, "job.bad_request", "hours"), "accelerators": {}})
        if job.state == "placed":
            jobs.run_in_background(ex, job.id)
        return {"job": job.id}

    try:
        payload = {"program": program, "cpu": cpu, "memory_gb": memory_gb, "hours": hours}
        job_id = forms.once(request, who.actor, "console-job", request_key, payload, work)[0]["job"]
    except SuanshuError as err:
        box = errors.box(err)
        try:  # the contract page again, with the program and numbers as typed
            return contract_detail(request, who, contract_id, status=err.http_status, error=box,
                                   job_form={"program": program, "cpu": cpu, "memory_gb": memory_gb, "hours": hours})
        except SuanshuError:
            return page(request, "message.html", status_code=err.http_status, error=box)
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)


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
    return page(request, "job.html", j=found, logs=logs, outputs=outputs, finished=found.state in jobs.FINISHED,
                placement=placement_rows(found), pool=found.placement.get("pool_name") or found.pool_id or "-")
