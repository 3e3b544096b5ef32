"""Policies in plain words, for buyers and providers, in the page's language."""

from __future__ import annotations

from suanshu.core.money import format_fen
from suanshu.web.i18n import _

AGG_NAMES = {"count": lambda: _("count"), "sum": lambda: _("sum"), "avg": lambda: _("average"),
             "min": lambda: _("minimum"), "max": lambda: _("maximum"), "sum_distinct": lambda: _("distinct sum"),
             "count_distinct": lambda: _("distinct count")}


def size(n: int) -> str:
    """A file's size for people: ``812 B``, ``12.3 KB``, ``4.1 MB`` (1 KB = 1024 bytes)."""
    if n < 1024:
        return f"{n} B"
    return f"{n / 1024:.1f} KB" if n < 1024**2 else f"{n / 1024**2:.1f} MB"


def mode_names() -> dict[str, str]:
    return {"aggregate": _("aggregate queries"), "dp": _("differential privacy"), "extract": _("desensitized rows"),
            "job": _("compute-to-data job")}


def mode_summaries() -> dict[str, str]:
    return {
        "aggregate": _("Aggregate: buyers ask for counts, sums and averages grouped by dimension columns; "
                       "groups smaller than the minimum size are never answered."),
        "extract": _("Extract: buyers receive desensitized rows of the allowed columns, at most the row limit per query."),
        "dp": _("Differential privacy: every answer carries calibrated noise and the contract's privacy budget (ε) stops answers when spent."),
        "job": _("Compute-to-data: buyers send a program that runs next to the data; only outputs that pass the checks leave."),
    }


def policy_words(policy: dict, price_fen: int) -> list[str]:
    """One sentence per rule, in the order a buyer needs them."""
    cols = policy.get("columns", {})
    dims = [c for c, r in cols.items() if r == "dimension"]
    aggs = [c for c, r in cols.items() if r == "aggregate"]
    hidden = [c for c, r in cols.items() if r == "hidden"]
    names = ", ".join(AGG_NAMES.get(a, lambda a=a: a)() for a in policy.get("aggregates", []))
    mode = policy.get("mode")
    out = []
    if mode == "aggregate":
        out.append(_("You receive aggregates only, never single records."))
        out.append(_("Group and filter by: %(cols)s.") % {"cols": ", ".join(dims) or "-"})
        out.append(_("Compute %(funcs)s over: %(cols)s.") % {"funcs": names or "-", "cols": ", ".join(aggs) or "-"})
        out.append(_("Every group in an answer covers at least %(k)s records; smaller groups are left out.")
                   % {"k": policy.get("min_group_size")})
        out.append(_("Aggregate mode cannot stop differencing: comparing several answers (for example with and "
                     "without one filter) can still reveal one person. Only dp mode stops that."))
    elif mode == "dp":
        dp = policy.get("dp", {})
        out.append(_("Answers are noisy counts, sums and averages (differential privacy)."))
        out.append(_("Each query spends ε %(q)s of a total budget of ε %(t)s; when it is spent, no more answers.")
                   % {"q": dp.get("epsilon_per_query"), "t": dp.get("epsilon_total")})
        out.append(_("Group by: %(cols)s.") % {"cols": ", ".join(dims) or "-"})
        out.append(_("dp mode is built to resist differencing across many answers, up to the budget."))
    elif mode == "extract":
        out.append(_("You receive desensitized rows of: %(cols)s.") % {"cols": ", ".join(dims + aggs) or "-"})
        out.append(_("At most %(n)s rows per query.") % {"n": policy.get("max_rows")})
    elif mode == "job":
        out.append(_("Your program runs next to the data; only outputs that pass the output checks leave."))
        job = policy.get("job", {})
        if job:
            out.append(_("Each job may use at most %(cpu)s CPUs, %(mem)s GB of memory and %(hours)s hours, and release "
                         "at most %(kb)s KB repeating at most %(pct)s%% of its rows from the source.")
                       % {"cpu": job.get("max_cpu"), "mem": job.get("max_memory_gb"), "hours": job.get("max_hours"),
                          "kb": job.get("max_output_bytes", 0) // 1024, "pct": round(100 * job.get("max_row_overlap", 0), 2)})
    joins = [c for c, r in cols.items() if r == "join"]
    if joins:
        out.append(_("You may join your own table on: %(cols)s (matched only, never shown, filtered or grouped).")
                   % {"cols": ", ".join(joins)})
    if hidden:
        out.append(_("Never shown: %(cols)s (they may still be used where the policy allows, never output).")
                   % {"cols": ", ".join(hidden)})
    if policy.get("purpose"):
        out.append(_("Allowed purposes: %(p)s.") % {"p": ", ".join(policy["purpose"])})
    if policy.get("residency"):
        out.append(_("Processed only in: %(r)s.") % {"r": ", ".join(policy["residency"])})
    if policy.get("expiry"):
        out.append(_("The policy expires at %(t)s (UTC).") % {"t": policy["expiry"]})
    out.append(_("Each answered query costs %(price)s; refused queries cost nothing.") % {"price": format_fen(price_fen)})
    return out


LABELS = {
    "pi": {"none": lambda: _("none"), "personal": lambda: _("personal"), "sensitive": lambda: _("sensitive")},
    "method": {"none": lambda: _("keep as is"), "mask": lambda: _("mask"), "hash": lambda: _("hash"),
               "drop": lambda: _("drop"), "generalize": lambda: _("generalize")},
    "role": {"dimension": lambda: _("dimension"), "aggregate": lambda: _("aggregate"), "hidden": lambda: _("hidden"),
             "join": lambda: _("join")},
    # every stored state a page shows: demands, bids, jobs, contracts, components
    "state": {"open": lambda: _("open"), "awarded": lambda: _("awarded"), "expired": lambda: _("expired"),
              "cancelled": lambda: _("cancelled"), "submitted": lambda: _("submitted"),
              "accepted": lambda: _("accepted"), "rejected": lambda: _("rejected"),
              "withdrawn": lambda: _("withdrawn"), "lapsed": lambda: _("lapsed"), "queued": lambda: _("queued"),
              "placed": lambda: _("placed"), "running": lambda: _("running"), "succeeded": lambda: _("succeeded"),
              "failed": lambda: _("failed"), "denied": lambda: _("denied"), "active": lambda: _("active"),
              "terminated": lambda: _("terminated"), "listed": lambda: _("listed"),
              "in_review": lambda: _("in review"), "draft": lambda: _("draft"), "delisted": lambda: _("delisted"),
              "refused": lambda: _("refused")},
    "bid": {"accepted": lambda: _("won"), "rejected": lambda: _("not chosen")},  # other bid states: "state"
    "mode": {m: (lambda m=m: mode_names()[m]) for m in ("aggregate", "dp", "extract", "job")},
}


def label(kind: str, value: str) -> str:
    """A stored code word (pi label, desensitization method, policy role, state, mode) in the page's language."""
    found = LABELS.get(kind, {}).get(value) or (LABELS["state"].get(value) if kind == "bid" else None)
    return found() if found else value
