"""Auditor: the audit log with filters, and the verification of the whole chain and tree."""

from __future__ import annotations

from fastapi import APIRouter, Request

from suanshu.audit import checkpoint
from suanshu.core.errors import SuanshuError
from suanshu.core.orgs import Role
from suanshu.market import users, workspace
from suanshu.web import errors, forms
from suanshu.web.auth import User, need
from suanshu.web.render import page

router = APIRouter(include_in_schema=False)


@router.get("/audit")
def audit(request: Request, who: User, action: str = "", actor: str = "", subject: str = "",
          before: str = ""):
    need(who, Role.AUDITOR, Role.OPERATOR)
    ex = request.app.state.exchange
    error = None
    try:
        seq = min(forms.whole(before, "audit.bad_before", "before"), 2**62) if before.strip() else None
        events = workspace.audit_events(ex, who.actor, action=action, who=actor, subject=subject, before=seq)
    except SuanshuError as err:
        events, error = [], errors.box(err)
    with ex.db.transaction() as s:
        # signatures of every checkpoint (database and the data dir's export), then chain, tree and roots
        verification = checkpoint.verify(s, ex.settings.home)
    people = {u.id: f"{u.username} · {o.name}" for u, o in users.list_users(ex)}  # user ids, readable
    return page(request, "audit.html", events=events, people=people, verification=verification, actions=workspace.audit_actions(ex),
                filters={"action": action, "actor": actor, "subject": subject}, error=error,
                older=events[-1].seq if len(events) == workspace.AUDIT_PAGE else None)
