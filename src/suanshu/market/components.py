"""Data components (数据元件): governed products over a provider's asset.

A component is the provider's SQL projection over one asset, per-column desensitization,
a policy and a price per query. Publishing runs the compliance gate: the columns the
policy lets a buyer see in clear are scanned *after* desensitization, and a component
that would expose personal information in clear is refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.orm import Session

from suanshu.audit import log as audit
from suanshu.core import text
from suanshu.core.clock import iso, utcnow
from suanshu.core.errors import NotFound, Refused, UsageError
from suanshu.core.ids import new_id
from suanshu.core.money import MAX_FEN, format_fen
from suanshu.core.orgs import Role
from suanshu.market import assets as asset_service
from suanshu.market.actors import Actor
from suanshu.market.exchange import Exchange
from suanshu.market.models import Component
from suanshu.market.paging import window
from suanshu.policy.model import Policy
from suanshu.policy.sandbox import Sandbox
from suanshu.policy.sqlguard import check_projection
from suanshu.scan import desensitize
from suanshu.scan import report as scan_reports
from suanshu.vault.models import Asset

NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")  # a component name (the console checks it too)
EXPOSED_ROLES = {"dimension"}  # roles whose values reach a buyer in clear (aggregate and dp modes)


@dataclass(frozen=True)
class ComponentSpec:
    name: str
    asset: str  # asset id or name in the provider's vault
    sql: str | None
    policy: dict
    price_fen: int
    desensitize: dict
    title: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()
    source_legality_statement: str = ""  # 数据来源合法性声明: required to submit for review (market.review)


def quote(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'


def view_sql(projection_sql: str, rules: dict, columns: list[str]) -> tuple[str, list[str]]:
    """The component's view: the projection with each column desensitized or dropped."""
    exprs, kept = [], []
    for col in columns:
        rule = rules.get(col)
        expr = desensitize.column_sql(quote(col), rule) if rule else quote(col)
        if expr is None:
            continue
        exprs.append(f"{expr} AS {quote(col)}")
        kept.append(col)
    if not exprs:
        raise UsageError("component.no_columns", "every column is dropped: keep at least one")
    return f"SELECT {', '.join(exprs)} FROM ({projection_sql}) AS src", kept


def open_sandbox(ex: Exchange, asset: Asset, table: str, projection_sql: str, rules: dict) -> tuple[Sandbox, list[str]]:
    """A hardened DuckDB over one asset with the component's view named ``table``."""
    path = ex.vault.local(asset.path, asset.content_sha256)
    key = ex.settings.secret_key()
    kept: list[str] = []

    def setup(con) -> None:
        desensitize.register_udfs(con, key)
        qualified = _qualify(projection_sql, asset.name)
        columns = [d[0] for d in con.execute(f"SELECT * FROM ({qualified}) AS p LIMIT 0").description]
        sql, cols = view_sql(qualified, rules, columns)
        kept.extend(cols)
        con.execute(f"CREATE VIEW main.{quote(table)} AS {sql}")

    sandbox = Sandbox({asset.name: path}, memory_limit=ex.settings.query_memory_limit,
                      timeout_s=ex.settings.query_timeout_s, setup=setup)
    return sandbox, kept


def borrow_sandbox(ex: Exchange, asset: Asset, table: str, projection_sql: str, rules: dict):
    """``open_sandbox`` through the exchange's pool: a sandbox built from the same vault file (same
    size and modification time of its local copy), view and rules is reused.
    ``with borrow_sandbox(...) as sandbox:``"""
    stat = ex.vault.local(asset.path, asset.content_sha256).stat()
    key = (asset.path, stat.st_size, stat.st_mtime_ns, table, projection_sql,
           json.dumps(rules, sort_keys=True, ensure_ascii=False))
    return ex.sandboxes.borrow(key, lambda: open_sandbox(ex, asset, table, projection_sql, rules)[0])


def _qualify(projection_sql: str, asset_name: str) -> str:
    """Point the provider's table reference at the sandbox's read-only vault schema."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(projection_sql, dialect="duckdb")
    for table in tree.find_all(exp.Table):
        if table.name.lower() == asset_name.lower():
            table.set("db", exp.to_identifier("vault"))
    return tree.sql(dialect="duckdb")


def gate(sandbox: Sandbox, table: str, policy: Policy, kept: list[str], rules: dict,
         workers: int | None = None) -> dict:
    """Scan what a buyer could see in clear; refuse personal information there. ``workers``:
    scan processes (None: every usable core when there is more than one batch)."""
    # extract mode releases rows: every allowed column (dimension and aggregate) is seen in clear
    exposed_roles = {"dimension", "aggregate"} if policy.mode == "extract" else EXPOSED_ROLES
    exposed = [c for c in kept if policy.role(c) in exposed_roles]
    verdict = {"passed": True, "exposed_columns": exposed, "problems": []}
    if exposed:
        cols = ", ".join(quote(c) for c in exposed)
        # batch by batch as the scan asks for them: memory holds a few batches, not the table
        data = sandbox.arrow_batches(f"SELECT {cols} FROM main.{quote(table)}", scan_reports.BATCH_ROWS)
        report = scan_reports.scan_table(data, source=table, encoding=None, max_findings=20, workers=workers)
        for column in report["columns"]:
            found = [t["type"] for t in column["types"]]
            if found or (column["pi"] != "none" and column["name"] not in rules):
                verdict["problems"].append({"column": column["name"], "pi": column["pi"], "types": found,
                                            "evidence": column.get("evidence", [])})
        verdict["scan_grade"] = report["grade"]
    verdict["passed"] = not verdict["problems"]
    return verdict


PUBLISH_STATES = ("listed", "in_review", "draft")


def publish(ex: Exchange, actor: Actor, spec: ComponentSpec, *, state: str = "listed") -> Component:
    """Build, gate and record a new version of a component in ``state``.

    People's adapters (API, CLI, console) go through ``market.review.submit``, which records it
    ``in_review`` (or ``draft``) for the operator; the ``listed`` default serves in-process callers
    that already act as the exchange (the demand award flow, library tests).
    """
    actor.require(Role.PROVIDER)
    if state not in PUBLISH_STATES:
        raise UsageError("component.bad_state", f"a new component is one of {', '.join(PUBLISH_STATES)}")
    if not NAME.match(spec.name):
        raise UsageError("component.bad_name", f"component name {spec.name!r}: lowercase letters, digits, _")
    if spec.price_fen < 0:
        raise UsageError("money.negative", "the price must not be negative")
    if spec.price_fen > MAX_FEN:  # a larger one would overflow the BIGINT column at the insert
        raise UsageError("money.invalid", f"the price is above the most an amount may be, {format_fen(MAX_FEN)}")
    text.check_length("title", spec.title, text.TITLE)
    text.check_length("description", spec.description, text.BODY)
    text.check_tags(list(spec.tags))
    rules = desensitize.validate_rules(spec.desensitize or {})
    if not isinstance(spec.policy, Mapping):
        raise UsageError("policy.invalid", f"a policy is a mapping of keys to values, not {type(spec.policy).__name__}")
    # Buyers query the component by its name, so that is its table, whatever table the policy
    # named when its provider tried it on a local file with `suanshu analyze`.
    policy = Policy.from_dict({**spec.policy, "table": spec.name})
    with ex.db.transaction() as s:
        asset = asset_service.get_asset(s, actor, spec.asset)
    projection = check_projection(spec.sql or f"SELECT * FROM {quote(asset.name)}", {asset.name})
    sandbox, kept = open_sandbox(ex, asset, policy.table, projection, rules)
    with sandbox:
        _check_policy_columns(policy, kept)
        schema = sandbox.describe(f"SELECT * FROM main.{quote(policy.table)}")
        verdict = gate(sandbox, policy.table, policy, kept, rules, workers=ex.settings.scan_workers)
    if not verdict["passed"]:
        cols = ", ".join(p["column"] for p in verdict["problems"])
        raise Refused("gate.personal_info_in_clear",
                      f"refused to list: column(s) {cols} would show personal information in clear; "
                      "mask, hash or drop them, or make them hidden/aggregate in the policy",
                      problems=verdict["problems"])
    with ex.db.transaction() as s:
        version = 1 + (s.scalar(select(func.max(Component.version))
                                .where(Component.org_id == actor.org_id, Component.name == spec.name)) or 0)
        now = utcnow()
        component = Component(
            id=new_id("cmp"), org_id=actor.org_id, asset_id=asset.id, name=spec.name,
            title=spec.title or spec.name, description=spec.description, tags=list(spec.tags),
            version=version, state=state, sql=projection, desensitize=rules, policy=policy.to_dict(),
            price_fen=spec.price_fen, output_schema=schema, gate=verdict, created_at=now,
            source_legality_statement=spec.source_legality_statement.strip(),
            listed_at=now if state == "listed" else None)
        s.add(component)
        s.flush()
        action = {"listed": "component.list", "in_review": "component.submit", "draft": "component.draft"}[state]
        audit.append(s, actor=actor.label, action=action, subject=component.id,
                     payload={"org": actor.org_id, "name": spec.name, "version": version, "asset": asset.id,
                              "asset_sha256": asset.content_sha256, "policy": component.policy,
                              "price_fen": spec.price_fen, "gate": verdict})
    return component


def _check_policy_columns(policy: Policy, kept: list[str]) -> None:
    known = {c.lower() for c in kept}
    unknown = [c for c in policy.columns if c.lower() not in known]
    if unknown:
        raise UsageError("policy.unknown_column",
                         f"the policy names column(s) the component does not output: {', '.join(unknown)}; "
                         f"it outputs {', '.join(kept)}")


def component_json(c: Component) -> dict:
    return {"id": c.id, "org": c.org_id, "name": c.name, "version": c.version, "title": c.title,
            "description": c.description, "tags": c.tags, "state": c.state, "asset": c.asset_id,
            "price_fen": c.price_fen, "policy": c.policy, "desensitize": c.desensitize,
            "columns": c.output_schema, "gate": c.gate, "listed_at": iso(c.listed_at),
            "source_legality_statement": c.source_legality_statement}


def catalog(ex: Exchange) -> list[Component]:
    """Listed components: what every buyer may browse."""
    with ex.db.transaction() as s:
        return list(s.scalars(select(Component).where(Component.state == "listed").order_by(Component.id)))


def _sees_unlisted(actor: Actor | None, comp: Component) -> bool:
    """Unlisted versions are seen by their provider and by the operator who reviews them."""
    return actor is not None and (comp.org_id == actor.org_id or actor.has(Role.OPERATOR))


def list_components(ex: Exchange, actor: Actor, *, state: str | None = None, org: str | None = None,
                    name: str | None = None, after: str | None = None, limit: int | None = None) -> list[Component]:
    """Components the actor may see, by id: listed ones, plus its own (and, for the operator, all) in any state."""
    q = select(Component).order_by(Component.id)
    if not actor.has(Role.OPERATOR):
        q = q.where(or_(Component.state == "listed", Component.org_id == actor.org_id))
    if state:
        q = q.where(Component.state == state)
    if org:
        q = q.where(Component.org_id == org)
    if name:
        q = q.where(Component.name == name)
    with ex.db.transaction() as s:
        return list(s.scalars(window(q, Component.id, after, limit)))


_NEWEST_LISTED = (select(Component).where(Component.name == bindparam("name"), Component.state == "listed")
                  .order_by(Component.version.desc()).limit(1))


def get_component(s: Session, actor: Actor | None, ref: str) -> Component:
    """A listed component is public; a provider also sees its own in any state, the operator all."""
    comp = s.get(Component, ref) if ref.startswith("cmp_") else None
    if comp is None:
        comp = s.scalar(_NEWEST_LISTED, {"name": ref})
    visible = comp is not None and (comp.state == "listed" or _sees_unlisted(actor, comp))
    if not visible:
        raise NotFound("component.not_found", f"no listed component {ref!r}; see `suanshu component list`")
    return comp

