"""Provider: compose a component over a vault table (projection, desensitization per column,
policy, price), submit it, and follow its state; contracts and revenue live in contracts.py."""

from __future__ import annotations

from datetime import date, datetime

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from suanshu.core.clock import SHANGHAI, iso, utcnow
from suanshu.core.errors import SuanshuError, UsageError
from suanshu.core.money import parse_amount
from suanshu.core.orgs import Role
from suanshu.market import assets, workspace
from suanshu.market.components import NAME, ComponentSpec, quote
from suanshu.policy.model import AGGREGATES, DP_AGGREGATES, MODES_IMPLEMENTED, ROLES, Policy
from suanshu.scan import desensitize
from suanshu.vault.models import ScanReport
from suanshu.web import errors, review_bridge, words
from suanshu.web.auth import Posted, User, need
from suanshu.web.i18n import _
from suanshu.web.render import page

router = APIRouter(include_in_schema=False)
METHODS = ("none", "mask", "hash", "generalize", "drop")
MODES = MODES_IMPLEMENTED  # every mode the policy engine runs: aggregate, dp, extract, job
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


def _compose_page(request, who, asset_id: str, status: int = 200, values: dict | None = None,
                  fields: dict | None = None, **extra):
    ex = request.app.state.exchange
    asset, columns = _form_state(ex, who, asset_id)
    values = values or {}
    for i, col in enumerate(columns):  # what the provider chose wins over the scan's suggestion
        if values:
            col["keep"] = f"col-{i}-keep" in values
        for key in ("method", "role"):
            if f"col-{i}-{key}" in values:
                col[key] = values[f"col-{i}-{key}"]
    shown = values or _suggested_form(columns)
    words_now, _problems = preview(shown, asset.name, [c["name"] for c in columns])
    return page(request, "compose.html", status_code=status, asset=asset, columns=columns, values=values,
                methods=_method_choices(), policy_roles=ROLES, aggregates=AGGREGATES, modes=MODES,
                mode_words=words.mode_summaries(), dp_aggregates=DP_AGGREGATES, fields=fields or {},
                agg_names={a: words.AGG_NAMES[a]() for a in AGGREGATES}, words_now=words_now, **extra)


def _suggested_form(columns: list[dict]) -> dict:
    """The form as first shown (the scan's suggestions, aggregate mode), for the first explanation."""
    form = {"mode": "aggregate", "min_group_size": "10", "agg-count": "on", "agg-sum": "on", "agg-avg": "on",
            "price": "2.00"}
    for i, col in enumerate(columns):
        form |= {f"col-{i}-method": col["method"], f"col-{i}-role": col["role"]}
        if col["keep"]:
            form[f"col-{i}-keep"] = "on"
    return form


def _method_choices() -> list[tuple[str, str]]:
    """(value, label) of every desensitization the scan engine renders, generalize once per kind."""
    kinds = {"resident_id": _("generalize: ID to region"), "address": _("generalize: address to district"),
             "age": _("generalize: age to bands"), "coordinate": _("generalize: round coordinates"),
             "date": _("generalize: date to year")}
    return ([("none", _("keep as is")), ("mask", _("mask")), ("hash", _("hash"))]
            + [(f"generalize:{k}", kinds.get(k, k)) for k in desensitize.KINDS] + [("drop", _("drop"))])


@router.get("/components/new")
def compose_form(request: Request, who: User, asset: str = ""):
    need(who, Role.PROVIDER)
    if not asset:
        return RedirectResponse("/vault", status_code=303)
    try:
        return _compose_page(request, who, asset)
    except SuanshuError as err:
        return page(request, "message.html", status_code=err.http_status, error=errors.box(err))


class FormErrors(UsageError):
    """Problems with named fields of the compose form, all of them at once: field id -> message."""

    def __init__(self, fields: dict[str, str], policy: dict | None = None, price_fen: int = 0):
        super().__init__("component.bad_form", "; ".join(fields.values()))
        self.fields = fields
        self.policy, self.price_fen = policy or {}, price_fen  # as far as the form got, for the live words


def _number(form: dict, key: str, label: str, problems: dict, *, kind=int, low=None, high=None, default=None):
    text = (form.get(key) or "").strip()
    if not text:
        if default is None:
            problems[key] = _("Fill in %(what)s.") % {"what": label}
        return default
    try:
        value = kind(text)
    except ValueError:
        problems[key] = (_("%(what)s must be a whole number.") if kind is int else _("%(what)s must be a number.")) % {
            "what": label}
        return None
    if (low is not None and value < low) or (high is not None and value > high):
        problems[key] = _("%(what)s must be from %(low)s to %(high)s.") % {
            "what": label, "low": low, "high": high if high is not None else "∞"}
        return None
    return value


def _listing(text: str) -> list[str]:
    return [p.strip() for p in text.replace("，", ",").replace("、", ",").split(",") if p.strip()]


def spec_from_form(form: dict, asset_name: str, columns: list[str]) -> ComponentSpec:
    """The form's fields as the component service's input; raises FormErrors naming every bad field.

    Fields of modes other than the chosen one are ignored, so switching modes loses nothing typed."""
    problems: dict[str, str] = {}
    kept, rules, roles = [], {}, {}
    mode = form.get("mode", "aggregate")
    if mode not in MODES:
        problems["mode"] = _("Choose one of the modes.")
    bounds: dict[str, list[float]] = {}
    for i, name in enumerate(columns):
        if f"col-{i}-keep" not in form:
            continue
        kept.append(name)
        method = form.get(f"col-{i}-method", "none")
        base, _sep, kind = method.partition(":")
        if base not in METHODS or (base == "generalize") != bool(kind) or (kind and kind not in desensitize.KINDS):
            problems[f"col-{i}-method"] = _("Unknown desensitization.")
        elif base == "generalize":
            rules[name] = {"method": "generalize", "kind": kind}
        elif base != "none":
            rules[name] = {"method": base}
        role = form.get(f"col-{i}-role", "hidden")
        if base == "drop":
            continue
        roles[name] = role if role in ROLES else "hidden"
        if mode == "dp" and roles[name] == "aggregate":
            lo = _number(form, f"col-{i}-lo", _("Lower bound"), problems, kind=float)
            hi = _number(form, f"col-{i}-hi", _("Upper bound"), problems, kind=float)
            if lo is not None and hi is not None:
                if lo < hi:
                    bounds[name] = [int(lo) if lo.is_integer() else lo, int(hi) if hi.is_integer() else hi]
                else:
                    problems[f"col-{i}-hi"] = _("The upper bound must be above the lower bound.")
    if not kept:
        problems["columns"] = _("Keep at least one column.")
    elif not any(r != "hidden" for r in roles.values()) and mode != "job":
        problems["columns"] = _("Give at least one kept column a role other than hidden, or buyers can ask nothing.")
    if "join" in roles.values() and mode not in ("aggregate", "dp"):
        problems["columns"] = _("Join columns work in aggregate and dp modes only; extract mode refuses joins.")
    policy: dict = {"mode": mode, "columns": roles}
    chosen = [a for a in AGGREGATES if f"agg-{a}" in form] or ["count"]
    if mode in ("aggregate", "dp"):
        policy["min_group_size"] = _number(form, "min_group_size", _("Minimum group size"), problems, low=2)
        policy["aggregates"] = chosen
        if mode == "dp" and set(chosen) - set(DP_AGGREGATES):
            problems["aggregates"] = _("dp mode adds noise to count, sum and average only: untick the others.")
    if mode == "aggregate" and (entity := form.get("entity", "")):
        if roles.get(entity) is None:
            problems["entity"] = _("The person column must be a kept column.")
        policy["entity"] = entity
    if mode == "extract":
        policy["max_rows"] = _number(form, "max_rows", _("Rows per query"), problems, low=1, high=1_000_000)
    if mode == "dp":
        per_query = _number(form, "eps_q", _("ε per query"), problems, kind=float, low=0.001, high=100)
        total = _number(form, "eps_total", _("ε in total"), problems, kind=float, low=0.001, high=10_000)
        if per_query is not None and total is not None and total < per_query:
            problems["eps_total"] = _("The total budget must be at least ε per query.")
        policy["dp"] = {"epsilon_per_query": per_query, "epsilon_total": total, "bounds": bounds}
    if mode == "job":
        policy["job"] = {
            "max_cpu": _number(form, "job_cpu", _("CPUs at most"), problems, low=1, high=1024, default=1),
            "max_memory_gb": _number(form, "job_memory", _("Memory (GB) at most"), problems, low=1, high=4096, default=1),
            "max_hours": _number(form, "job_hours", _("Hours at most"), problems, kind=float, low=0.01, high=744,
                                 default=1.0),
            "max_output_bytes": 1024 * (_number(form, "job_output_kb", _("Output (KB) at most"), problems, low=1,
                                                high=10 * 1024 * 1024, default=1024) or 1),
            "max_row_overlap": (_number(form, "job_overlap", _("Share of rows repeated from the source, per cent, at most"), problems,
                                        kind=float, low=0.01, high=100, default=5.0) or 5.0) / 100}
    if purpose := _listing(form.get("purpose", "")):
        policy["purpose"] = purpose
    if residency := _listing(form.get("residency", "")):
        policy["residency"] = residency
    if expiry := form.get("expiry", "").strip():
        try:  # a Beijing calendar day: the policy ends at its midnight
            day = date.fromisoformat(expiry)
            policy["expiry"] = iso(datetime.combine(day, datetime.min.time(), SHANGHAI))
            if day <= utcnow().astimezone(SHANGHAI).date():
                problems["expiry"] = _("The end date must be in the future.")
        except ValueError:
            problems["expiry"] = _("Write the date as YYYY-MM-DD.")
    name = form.get("name", "").strip()
    if not NAME.match(name):
        problems["name"] = _("Use lowercase letters, digits and _, starting with a letter or _.")
    if not form.get("title", "").strip():
        problems["title"] = _("Give the component a title buyers will read.")
    try:
        price_fen = parse_amount(form.get("price", "") or "0")
    except SuanshuError:
        problems["price"], price_fen = _("Write the price in yuan like 2.50."), 0
    if not problems:  # the policy's own rules, with their message next to the field they name
        try:
            Policy.from_dict({"table": name, **policy})
        except SuanshuError as err:
            problems[_field_of(err.message)] = err.message
    if problems:
        raise FormErrors(problems, policy, price_fen)
    tags = tuple(_listing(form.get("tags", "")))
    return ComponentSpec(
        name=name, asset=asset_name,
        sql=f"SELECT {', '.join(quote(c) for c in kept)} FROM {quote(asset_name)}",
        policy=policy, price_fen=price_fen, desensitize=rules,
        title=form.get("title", "").strip(), description=form.get("description", "").strip(), tags=tags,
        source_legality_statement=form.get("legality", "").strip())


# A service message names the policy key it is about; the form shows it next to that field.
_FIELD_OF = (("epsilon_total", "eps_total"), ("epsilon_per_query", "eps_q"), ("dp.bounds", "columns"),
             ("min_group_size", "min_group_size"), ("max_rows", "max_rows"), ("entity", "entity"),
             ("aggregate", "aggregates"), ("expiry", "expiry"), ("job", "job"), ("purpose", "purpose"),
             ("residency", "residency"), ("column", "columns"), ("name", "name"), ("price", "price"))


def _field_of(message: str) -> str:
    return next((field for key, field in _FIELD_OF if key in message), "form")


def preview(form: dict, asset_name: str, columns: list[str]) -> tuple[list[str], dict[str, str]]:
    """The policy in plain words as a buyer will read it, and the form's problems so far."""
    lenient = {"name": "preview", "title": "-"} | {k: v for k, v in form.items() if v}
    try:
        spec = spec_from_form(lenient, asset_name, columns)
    except FormErrors as err:  # explain what is there already; a missing number reads as "?"
        return words.policy_words(_unknowns(err.policy), err.price_fen), err.fields
    return words.policy_words(spec.policy, spec.price_fen), {}


def _unknowns(value):
    if isinstance(value, dict):
        return {k: _unknowns(v) for k, v in value.items()}
    return "?" if value is None else value


@router.post("/compose/words")
async def compose_words(request: Request, who: Posted):
    """htmx: the plain-words explanation of the policy being composed, after every change."""
    need(who, Role.PROVIDER)
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    try:
        asset, columns = await run_in_threadpool(_form_state, request.app.state.exchange, who, form.get("asset", ""))
    except SuanshuError as err:
        return page(request, "message.html", status_code=err.http_status, error=errors.box(err))
    words_now, problems = preview(form, asset.name, [c["name"] for c in columns])
    return page(request, "_compose_words.html", words_now=words_now, form_problems=problems)


def _fields_from(err: SuanshuError) -> dict[str, str]:
    """The field a service refusal is about, with its message (the meaning first when the console knows it)."""
    if isinstance(err, FormErrors):
        return err.fields
    message = errors.box(err)["message"]
    if "legality" in err.code:
        return {"legality": message}
    if err.code.startswith("money."):
        return {"price": message}
    if err.code in ("component.bad_name", "component.name_taken"):
        return {"name": message}
    if err.code.startswith("policy.") or err.code.startswith("component.bad_desensitize"):
        return {_field_of(err.message): message}
    return {}


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
        fields = _fields_from(err)
        box = errors.box(err) if not fields else {
            "title": _("Some fields need a change"), "code": err.code,
            "message": _("The fields marked below say what to change; everything you typed is kept."), "next": ""}
        return await run_in_threadpool(lambda: _compose_page(
            request, who, asset_id, status=err.http_status, values=form, error=box, problems=problems,
            fields=fields, bad_columns={p["column"] for p in problems}))
    return RedirectResponse(f"/components?done={outcome}", status_code=303)
