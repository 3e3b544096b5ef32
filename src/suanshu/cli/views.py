"""Output shared by the local commands and their remote-mode twins (``cli/remote.py``)."""

from __future__ import annotations

from suanshu.cli.output import Format, console, print_json, table
from suanshu.core.money import format_fen


def show_catalog(items: list[dict], fmt: Format) -> None:
    if fmt == Format.json:
        print_json(items)
        return
    table("Catalog", ["name", "v", "title", "price", "mode", "id"],
          [(c["name"], c["version"], c["title"], format_fen(c["price_fen"]), c["policy"]["mode"], c["id"])
           for c in items])


def show_balances(rows: list, fmt: Format) -> None:
    """Rows with org, account, posted_fen, held_fen, available_fen; all accounts' posted sum to zero."""
    total = sum(r.posted_fen for r in rows)
    if fmt == Format.json:
        print_json({"accounts": [dict(vars(r)) for r in rows], "sum_posted_fen": total})
        return
    table("Balances", ["org", "account", "posted", "held", "available"],
          [(r.org, r.account, format_fen(r.posted_fen), format_fen(r.held_fen), format_fen(r.available_fen))
           for r in rows])
    console.print(f"Sum of posted balances: {format_fen(total)}")
