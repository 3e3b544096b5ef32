"""What a person may look at before trading: masked scan findings for the asset's owner, and a
sample of a listed component that shows only what its policy would answer anyway.

Neither releases a raw value: findings are masked inside their span, and a component sample is
computed in the component's sandbox over its desensitized view, with the same group threshold a
buyer's query would meet.
"""

from __future__ import annotations

from collections import defaultdict

import pyarrow.parquet as pq
from sqlalchemy.orm import Session

from suanshu.core.orgs import Role
from suanshu.market import assets as asset_service
from suanshu.market import components as component_service
from suanshu.market.actors import Actor
from suanshu.market.exchange import Exchange
from suanshu.market.models import Component
from suanshu.policy.model import Policy
from suanshu.vault.models import Asset

SAMPLE_ROWS = 5


def mask_span(cell: str, start: int, end: int, char: str = "*") -> str:
    """The cell with the finding's characters masked, keeping a few at each end to be recognisable."""
    span = cell[start:end]
    keep = 0 if len(span) < 4 else min(4, len(span) // 4)
    first = 1 if 2 <= len(span) < 4 else keep
    masked = span[:first] + char * (len(span) - first - keep) + (span[len(span) - keep:] if keep else "")
    return cell[:start] + masked + cell[end:]


def masked_findings(ex: Exchange, actor: Actor, asset_ref: str, per_type: int = 3) -> list[dict]:
    """Up to ``per_type`` findings of each (column, type), each with its cell masked. The asset's owner only."""
    actor.require(Role.PROVIDER, Role.OPERATOR)
    with ex.db.transaction() as s:
        asset = asset_service.get_asset(s, actor, asset_ref)
    findings = asset_service.scan_report(ex, actor, asset.id)["findings"]
    chosen, seen = [], defaultdict(int)
    for f in findings:
        key = (f["column"], f["type"])
        if seen[key] < per_type:
            seen[key] += 1
            chosen.append(f)
    if not chosen:
        return []
    local = ex.vault.local(asset.path, asset.content_sha256)
    table = pq.read_table(local, columns=sorted({f["column"] for f in chosen}))
    out = []
    for f in chosen:
        cell = table.column(f["column"])[f["row"]].as_py()
        text = "" if cell is None else str(cell)
        out.append({**f, "sample": mask_span(text, f["start"], f["end"])})
    return out


def component_sample(ex: Exchange, component_id: str, actor: Actor | None = None) -> dict:
    """A few rows of what a buyer could see: the exposed columns only, grouped above the threshold.

    aggregate/dp: distinct combinations of dimension columns whose groups reach min_group_size
    (counts withheld in dp mode, where only noisy counts may leave). extract: the first rows of
    the allowed columns. Columns a buyer cannot see in clear are named with their role.
    """
    with ex.db.transaction() as s:
        comp: Component = component_service.get_component(s, actor, component_id)
        asset = s.get(Asset, comp.asset_id)
    policy = Policy.from_dict(comp.policy)
    table = component_service.quote(policy.table)
    # the pooled sandbox the component's queries use (building one costs ~80 ms a page view)
    with component_service.borrow_sandbox(ex, asset, policy.table, comp.sql, comp.desensitize) as sandbox:
        kept = [c["name"] for c in sandbox.describe(f"SELECT * FROM main.{table}")]  # the view's columns
        if policy.mode == "extract":
            shown = [c for c in kept if policy.role(c) in ("dimension", "aggregate")]
            sql = f"SELECT {_cols(shown)} FROM main.{table} LIMIT {SAMPLE_ROWS}"
        else:
            shown = [c for c in kept if policy.role(c) == "dimension"]
            if not shown:
                return {"columns": [], "rows": [], "withheld": _withheld(kept, policy, set())}
            k = int(policy.min_group_size or 2)
            # Fewer dimensions make bigger groups: drop trailing ones until some group reaches k.
            for n in range(len(shown), 0, -1):
                sql = (f"SELECT {_cols(shown[:n])} FROM main.{table} GROUP BY ALL HAVING count(*) >= {k} "
                       f"ORDER BY count(*) DESC LIMIT {SAMPLE_ROWS}")
                result = sandbox.execute(sql)
                if result.rows:
                    shown = shown[:n]
                    break
            return {"columns": shown, "rows": [list(r) for r in result.rows],
                    "withheld": _withheld(kept, policy, set(shown))}
        result = sandbox.execute(sql) if shown else None
    rows = [list(r) for r in result.rows] if result else []
    return {"columns": shown, "rows": rows, "withheld": _withheld(kept, policy, set(shown))}


def _cols(cols: list[str]) -> str:
    return ", ".join(component_service.quote(c) for c in cols)


def _withheld(kept: list[str], policy: Policy, shown: set[str]) -> list[dict]:
    return [{"name": c, "role": policy.role(c)} for c in kept if c not in shown]


