"""Rating: usage totals + a price plan -> invoice lines. Pure, integer fen.

A plan (JSON)::

    {"per_query_fen": 250,                      # each answered query
     "per_1000_rows_fen": 40,                   # rows out, per thousand
     "per_epsilon_fen": 50000,                  # differential-privacy budget spent, per 1.0 ε
     "resource_hour_fen": {"cpu": 5, "ascend-910b": 1200},   # per resource-hour by type
     "monthly_fee_fen": 0, "included": {"queries": 100},     # subscription with included quota
     "minimum_fen": 0}                          # a period is never billed less than this

Usage totals are sums over a *set* of events, so duplicates (dropped on (source, id)) and
arrival order cannot change them; each line rounds once, half up, on the total (never per
event), so splitting usage across events cannot change a line either.

An event's quantities (``quantities``: ``KINDS``) are whole numbers from 0 to ``MAX_QUANTITY``:
ingest refuses anything else (``usage.bad_event``) and rating refuses it too, for rows stored
before that check (``billing.bad_usage_event``, naming the event: the invoice is not issued),
so no line is ever negative and no stored event can crash an invoice.
"""

from __future__ import annotations

from dataclasses import dataclass

from suanshu.core.errors import UsageError
from suanshu.core.money import MAX_FEN

MICRO = 1_000_000  # ε is metered in micro-ε
KNOWN = {"per_query_fen", "per_1000_rows_fen", "per_epsilon_fen", "resource_hour_fen", "monthly_fee_fen",
         "included", "minimum_fen"}
MAX_QUANTITY = 10**15  # per event: a petabyte, 31 million years of seconds; more is a metering bug
# per usage kind (suanshu.usage.<kind>): its quantity fields and their defaults (None: required)
KINDS = {"query": {"count": 1, "rows": 0, "micro_epsilon": 0}, "rows": {"rows": None},
         "epsilon": {"micro_epsilon": None}, "resource": {"seconds": None}, "bytes": {"bytes": None}}
MAX_RESOURCE = 41  # a pool's accelerator type name (compute/pools.py) is at most 41 characters


@dataclass(frozen=True)
class Line:
    kind: str
    description: str
    quantity: int
    amount_fen: int


def _div_half_up(a: int, b: int) -> int:
    return (2 * a + b) // (2 * b)


def check_plan(plan: dict) -> dict:
    unknown = set(plan) - KNOWN
    if unknown:
        raise UsageError("billing.bad_plan", f"unknown price plan fields: {', '.join(sorted(unknown))}")
    for k, v in plan.items():
        values = v.values() if isinstance(v, dict) else [v]
        if not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in values):
            raise UsageError("billing.bad_plan", f"{k}: prices and quotas are non-negative integers")
    return plan


def quantities(type_: str, data: object, *, code: str, event: str = "usage event") -> dict:
    """One event's metered quantities (and ``resource``), checked: ``code`` names each refusal."""
    kind = type_.removeprefix("suanshu.usage.")
    fields = KINDS.get(kind) if type_ != kind else None
    if fields is None:
        raise UsageError(code, f"{event}: unknown usage type {type_!r} (suanshu.usage.{{{','.join(KINDS)}}})")
    if not isinstance(data, dict):
        raise UsageError(code, f"{event}: data is a JSON object")
    out = {}
    for field, default in fields.items():
        v = data.get(field, default)
        if v is None and field not in data:
            raise UsageError(code, f"{event}: {type_} needs data.{field}")
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= MAX_QUANTITY:
            shown = repr(v) if not isinstance(v, int) or abs(v) < 10**30 else "a number that large"
            raise UsageError(code, f"{event}: data.{field} must be a whole number from 0 to {MAX_QUANTITY}, "
                                   f"not {shown[:40]}")
        out[field] = v
    if kind == "resource":
        r = data.get("resource")
        if not (isinstance(r, str) and 0 < len(r) <= MAX_RESOURCE and r.isprintable() and r.strip() == r):
            raise UsageError(code, f"{event}: data.resource must name the resource (1 to {MAX_RESOURCE} "
                                   f"printable characters), not {repr(r)[:60]}")
        out["resource"] = r
    return out


@dataclass
class Totals:
    queries: int = 0
    rows: int = 0
    micro_epsilon: int = 0
    bytes: int = 0
    resource_seconds: dict[str, int] | None = None

    def add(self, type_: str, data: dict, *, event: str = "usage event") -> None:
        """Fold one event in (``quantities``); a bad one is ``billing.bad_usage_event`` naming ``event``."""
        q = quantities(type_, data, code="billing.bad_usage_event", event=event)
        self.queries += q.get("count", 0)
        self.rows += q.get("rows", 0)
        self.micro_epsilon += q.get("micro_epsilon", 0)
        self.bytes += q.get("bytes", 0)
        if "resource" in q:
            self.resource_seconds = self.resource_seconds or {}
            self.resource_seconds[q["resource"]] = self.resource_seconds.get(q["resource"], 0) + q["seconds"]


def rate(plan: dict, t: Totals) -> list[Line]:
    """Invoice lines for one period's usage, in a fixed order."""
    lines: list[Line] = []
    included = plan.get("included", {})
    if fee := plan.get("monthly_fee_fen", 0):
        lines.append(Line("subscription", "monthly subscription", 1, fee))
    if price := plan.get("per_query_fen", 0):
        billable = max(0, t.queries - included.get("queries", 0))
        lines.append(Line("queries", f"{t.queries} queries, {t.queries - billable} included", billable,
                          billable * price))
    if price := plan.get("per_1000_rows_fen", 0):
        billable = max(0, t.rows - included.get("rows", 0))
        lines.append(Line("rows", f"{t.rows} rows out", billable, _div_half_up(billable * price, 1000)))
    if price := plan.get("per_epsilon_fen", 0):
        lines.append(Line("epsilon", f"ε {t.micro_epsilon / MICRO:g} spent", t.micro_epsilon,
                          _div_half_up(t.micro_epsilon * price, MICRO)))
    for resource, price in sorted(plan.get("resource_hour_fen", {}).items()):
        seconds = (t.resource_seconds or {}).get(resource, 0)
        if seconds:
            lines.append(Line(f"resource:{resource}", f"{seconds / 3600:.4g} {resource}-hours", seconds,
                              _div_half_up(seconds * price, 3600)))
    total = sum(line.amount_fen for line in lines)
    if total > MAX_FEN:
        raise UsageError("billing.total_too_large", f"the period's usage rates to {total} fen, more than "
                                                    "an amount can hold: check the usage and the plan")
    if (minimum := plan.get("minimum_fen", 0)) > total:
        lines.append(Line("minimum", "top-up to the minimum charge", 1, minimum - total))
    return lines
