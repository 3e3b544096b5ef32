"""Provider: compose a component over a vault table (projection, desensitization per column,
policy, price), submit it, and follow its state; contracts and revenue live in contracts.py."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from suanshu.core.errors import SuanshuError, UsageError
from suanshu.core.money import parse_amount
from suanshu.core.orgs import Role
from suanshu.market import assets, components, workspace
from suanshu.market.components import ComponentSpec, quote
from suanshu.vault.models import ScanReport
from suanshu.web import errors, review_bridge, words
from suanshu.web.auth import Posted, User, need
from suanshu.web.i18n import _
from suanshu.web.render import page

router = APIRouter(include_in_schema=False)
METHODS = ("none", "mask", "hash", "generalize", "drop")
ROLES = ("dimension", "aggregate", "hidden")
AGGREGATES = ("count", "sum", "avg", "min", "max")
NUMERIC = ("INT", "BIGINT", "DOUBLE", "FLOAT", "DECIMAL", "SMALLINT", "TINYINT", "HUGEINT", "REAL")


@router.get("/components")
def my_components(request: Request, who: User, done: str = ""):
    need(who, Role.PROVIDER)
    ex = request.app.state.exchange
    items = workspace.my_components(ex, who.actor)
    reasons = {c.id: review_bridge.last_reason(ex, who.actor, c.id) for c in items
               if c.state in ("rejected", "delisted")}
    notice = {"review": _("Submitted. The operator reviews it before buyers can find it."),
              "listed": _("Listed: buyers can find it in the catalog now."),
              "resubmit": _("Resubmitted for review."), "delist": _("Delisted: no new contracts; signed ones go on.")
              }.get(done)
    return page(request, "components.html", items=items, notice=notice, reasons=reasons)


@router.post("/components/{component_id}/{action}")
def provider_move(request: Request, who: Posted, component_id: str, action: str):
    need(who, Role.PROVIDER)
    if action not in ("resubmit", "delist"):
        return RedirectResponse("/components", status_code=303)
    try:
        review_bridge.move(request.app.state.exchange, who.actor, component_id, action)
    except SuanshuError as err:
        return page(request, "message.html", status_code=err.http_status, error=errors.box(err))
    return RedirectResponse(f"/components?done={action}", status_code=303)


def _suggest(column: dict, types: dict[str, str]) -> dict:
    """A starting point from the scan: hide and hash what is sensitive, mask what is personal."""
    numeric = any(types.get(column["name"], "").upper().startswith(n) for n in NUMERIC)
    if column["pi"] == "sensitive":
        return {"keep": True, "method": "hash", "role": "hidden"}
    if column["pi"] == "personal":
        return {"keep": True, "method": "mask", "role": "hidden"}
    return {"keep": True, "method": "none", "role": "aggregate" if numeric else "dimension"}


def _form_state(ex, who, asset_id: str):
    with ex.db.transaction() as s:
        asset = assets.get_asset(s, who.actor, asset_id)
        report = s.scalar(select(ScanReport).where(ScanReport.asset_id == asset.id)).report
    types = {c["name"]: c["type"] for c in asset.schema}
    columns = [{"name": c["name"], "type": types.get(c["name"], ""), "pi": c["pi"],
                "found": [t["type"] for t in c["types"]], **_suggest(c, types)} for c in report["columns"]]
    return asset, columns


def _compose_page(request, who, asset_id: str, status: int = 200, values: dict | None = None, **extra):
    ex = request.app.state.exchange
    asset, columns = _form_state(ex, who, asset_id)
    values = values or {}
    for i, col in enumerate(columns):
        for key in ("keep", "method", "role"):
            if f"col-{i}-{key}" in values or (key == "keep" and values):
                col[key] = values.get(f"col-{i}-{key}", "") if key != "keep" else f"col-{i}-keep" in values
    return page(request, "compose.html", status_code=status, asset=asset, columns=columns, values=values,
                methods=METHODS, policy_roles=ROLES, aggregates=AGGREGATES, mode_words=words.mode_summaries(),
                agg_names={a: words.AGG_NAMES[a]() for a in AGGREGATES}, **extra)


@router.get("/components/new")
def compose_form(request: Request, who: User, asset: str = ""):
    need(who, Role.PROVIDER)
    if not asset:
        return RedirectResponse("/vault", status_code=303)
    try:
        return _compose_page(request, who, asset)
    except SuanshuError as err:
        return page(request, "message.html", status_code=err.http_status, error=errors.box(err))


def spec_from_form(form: dict, asset_name: str, columns: list[str]) -> ComponentSpec:
    """The form's fields as the component service's input (raises UsageError on bad values)."""
    kept, rules, roles = [], {}, {}
    for i, name in enumerate(columns):
        if f"col-{i}-keep" not in form:
            continue
        kept.append(name)
        method = form.get(f"col-{i}-method", "none")
        if method not in METHODS:
            raise UsageError("component.bad_desensitize_rule", f"column {name}: unknown method {method!r}")
        if method == "generalize":
            rules[name] = {"method": "generalize", "kind": form.get(f"col-{i}-kind", "")}
        elif method != "none":
            rules[name] = {"method": method}
        role = form.get(f"col-{i}-role", "hidden")
        if method != "drop":
            roles[name] = role if role in ROLES else "hidden"
    if not kept:
        raise UsageError("component.no_columns", "keep at least one column")
    mode = form.get("mode", "aggregate")
    policy: dict = {"mode": mode, "columns": roles}
    if mode == "aggregate":
        policy["min_group_size"] = _int(form.get("min_group_size", ""), "min_group_size")
        policy["aggregates"] = [a for a in AGGREGATES if f"agg-{a}" in form] or ["count"]
    elif mode == "extract":
        policy["max_rows"] = _int(form.get("max_rows", ""), "max_rows")
    else:
        raise UsageError("policy.mode_unsupported", f"the console composes aggregate or extract components, not {mode!r}")
    purpose = [p.strip() for p in form.get("purpose", "").replace("，", ",").split(",") if p.strip()]
    if purpose:
        policy["purpose"] = purpose
    tags = tuple(t.strip() for t in form.get("tags", "").replace("，", ",").split(",") if t.strip())
    return ComponentSpec(
        name=form.get("name", "").strip(), asset=asset_name,
        sql=f"SELECT {', '.join(quote(c) for c in kept)} FROM {quote(asset_name)}",
        policy=policy, price_fen=parse_amount(form.get("price", "") or "0"), desensitize=rules,
        title=form.get("title", "").strip(), description=form.get("description", "").strip(), tags=tags,
        source_legality_statement=form.get("legality", "").strip())


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UsageError("component.bad_number", f"{what} must be a whole number, not {text!r}") from None


@router.post("/components/new")
async def compose(request: Request, who: Posted):
    need(who, Role.PROVIDER)
    ex = request.app.state.exchange
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    asset_id = form.get("asset", "")
    try:
        asset, columns = await run_in_threadpool(_form_state, ex, who, asset_id)
        spec = spec_from_form(form, asset.name, [c["name"] for c in columns])
        outcome = await run_in_threadpool(review_bridge.submit, ex, who.actor, spec)
    except SuanshuError as err:
        problems = err.details.get("problems", []) if err.details else []
        return await run_in_threadpool(lambda: _compose_page(
            request, who, asset_id, status=err.http_status, values=form, error=errors.box(err), problems=problems))
    return RedirectResponse(f"/components?done={outcome}", status_code=303)
