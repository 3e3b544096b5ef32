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
"""

from __future__ import annotations

from dataclasses import dataclass

from suanshu.core.errors import UsageError

MICRO = 1_000_000  # ε is metered in micro-ε
KNOWN = {"per_query_fen", "per_1000_rows_fen", "per_epsilon_fen", "resource_hour_fen", "monthly_fee_fen",
         "included", "minimum_fen"}


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


@dataclass
class Totals:
    queries: int = 0
    rows: int = 0
    micro_epsilon: int = 0
    bytes: int = 0
    resource_seconds: dict[str, int] | None = None

    def add(self, type_: str, data: dict) -> None:
        """Fold one event in. Types: suanshu.usage.{query,rows,epsilon,resource,bytes}."""
        kind = type_.rsplit(".", 1)[-1]
        if kind == "query":
            self.queries += int(data.get("count", 1))
            self.rows += int(data.get("rows", 0))
            self.micro_epsilon += int(data.get("micro_epsilon", 0))
        elif kind == "rows":
            self.rows += int(data["rows"])
        elif kind == "epsilon":
            self.micro_epsilon += int(data["micro_epsilon"])
        elif kind == "resource":
            self.resource_seconds = self.resource_seconds or {}
            r = str(data["resource"])
            self.resource_seconds[r] = self.resource_seconds.get(r, 0) + int(data["seconds"])
        elif kind == "bytes":
            self.bytes += int(data["bytes"])
        else:
            raise UsageError("billing.unknown_usage_type", f"unknown usage type {type_!r}")


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
    if (minimum := plan.get("minimum_fen", 0)) > total:
        lines.append(Line("minimum", "top-up to the minimum charge", 1, minimum - total))
    return lines
