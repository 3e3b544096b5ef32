"""`suanshu catalog …`, `suanshu demand …`, `suanshu auction …`, `suanshu component certificate` (issue 8).

Thin: every command calls a market service. Local mode acts for a named org (see cli/main.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from suanshu.cli.output import Format, console, handles_errors, print_json, table
from suanshu.core.clock import local
from suanshu.core.errors import UsageError
from suanshu.core.money import format_fen, parse_amount

FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="table for people, json for scripts")]

catalog_app = typer.Typer(help="The catalog: search, DCAT export and import.", no_args_is_help=True)
demand_app = typer.Typer(help="Demands (场景需求/RFQ): post, bid, compare, accept, sweep.", no_args_is_help=True)
auction_app = typer.Typer(help="Compute reverse auctions (算力竞价) and pool offers.", no_args_is_help=True)


def load_json(value: str, what: str):
    """Inline JSON (starting with { or [) or a path to a JSON file."""
    try:
        text = value if value.lstrip()[:1] in ("{", "[") else Path(value).read_text(encoding="utf-8")
        return json.loads(text)
    except (OSError, ValueError) as exc:  # ValueError: not JSON, not UTF-8 (UnicodeDecodeError)
        raise UsageError(f"{what}.bad_json", f"{what}: not valid JSON or not a readable file: {exc}") from None


def parse_deadline(text: str) -> datetime:
    """``7d``, ``36h`` from now, or an ISO-8601 time (Asia/Shanghai when it has no zone)."""
    from suanshu.core.clock import SHANGHAI

    t = text.strip()
    try:
        if t[-1:] in ("d", "h") and t[:-1].isdigit():
            return datetime.now(UTC) + timedelta(**{"days" if t[-1] == "d" else "hours": int(t[:-1])})
        dt = datetime.fromisoformat(t)
    except ValueError:
        raise UsageError("demand.invalid", f"deadline {text!r}: use 7d, 36h or an ISO-8601 time") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=SHANGHAI)


def register(app: typer.Typer, component_app: typer.Typer, open_exchange: Callable) -> None:
    app.add_typer(catalog_app, name="catalog")
    app.add_typer(demand_app, name="demand")
    app.add_typer(auction_app, name="auction")

    def actor(ex, org: str):
        from suanshu.market import orgs

        return orgs.local_actor(ex, org)

    # -- catalog ------------------------------------------------------------------------------

    @catalog_app.command("search")
    @handles_errors
    def catalog_search(q: Annotated[str, typer.Argument(help="Words, Chinese or not: 长沙 降雨")] = "",
                       region: str | None = None,
                       grade: Annotated[str | None, typer.Option(help="highest grade wanted, e.g. general-2")] = None,
                       mode: str | None = None, price_min: Annotated[int | None, typer.Option(help="fen")] = None,
                       price_max: Annotated[int | None, typer.Option(help="fen")] = None,
                       limit: int = 20, offset: int = 0, fmt: FormatOpt = Format.table) -> None:
        """Ranked catalog search (segmentation, synonyms, filters by region, grade, mode and price)."""
        from suanshu.market import search

        result = search.search(open_exchange(), q, region=region, grade=grade, mode=mode, price_min=price_min,
                               price_max=price_max, limit=limit, offset=offset)
        if fmt == Format.json:
            print_json(result.as_dict())
            return
        table(f"{result.total} found · terms: {' '.join(result.terms) or '-'}",
              ["title", "provider", "region", "grade", "mode", "price", "score", "id"],
              [(h["title"], h["org_name"] + (f" ({h['source']})" if h["source"] else ""), h["region"], h["grade"],
                h["mode"], "-" if h["price_fen"] is None else format_fen(h["price_fen"]), h["score"], h["id"])
               for h in (hit.as_dict() for hit in result.hits)])

    @catalog_app.command("export")
    @handles_errors
    def catalog_export(fmt: Annotated[str, typer.Option("--format", "-f", help="dcat (JSON-LD)")] = "dcat",
                       base_url: Annotated[str, typer.Option(help="the exchange's public URL for the IRIs")] = "",
                       out: Annotated[Path | None, typer.Option("--out", "-o")] = None) -> None:
        """Print the catalog as W3C DCAT JSON-LD, each component's policy an ODRL offer."""
        from suanshu.market import catalog

        if fmt != "dcat":
            raise UsageError("catalog.bad_format", "the export format is dcat")
        text = json.dumps(catalog.export_dcat(open_exchange(), base_url=base_url), ensure_ascii=False, indent=2)
        if out:
            out.write_text(text + "\n", encoding="utf-8")
        else:
            print(text)

    @catalog_app.command("import")
    @handles_errors
    def catalog_import(file: Path, fmt: FormatOpt = Format.table) -> None:
        """Import another exchange's DCAT catalog (JSON-LD file) as read-only listings."""
        from suanshu.market import catalog

        result = catalog.import_dcat(open_exchange(), None, load_json(str(file), "catalog"))
        print_json(result) if fmt == Format.json else console.print(
            f"Imported {result['datasets']} listing(s) from {result['source']}: "
            f"{result['added']} new, {result['updated']} updated")

    # -- demands ------------------------------------------------------------------------------

    @demand_app.command("post")
    @handles_errors
    def demand_post(org: Annotated[str, typer.Argument(help="The buyer org")],
                    title: str = typer.Option(..., help="What is needed: 长沙 2023 逐时天气"),
                    budget: str = typer.Option(..., help="¥ amount (12.34, 12元) or 1234fen"),
                    deadline: str = typer.Option("7d", help="7d, 36h, or an ISO-8601 time"),
                    description: str = "", tag: Annotated[list[str], typer.Option()] = [],
                    region: str = "", purpose: str = "",
                    compute: Annotated[str | None, typer.Option(help="job shape JSON or file")] = None,
                    fmt: FormatOpt = Format.table) -> None:
        """Publish a demand; matching providers and pools are notified and pools bid automatically."""
        from suanshu.market import demands

        ex = open_exchange()
        spec = demands.DemandSpec(title=title, description=description, tags=tuple(tag), region=region,
                                  compute=load_json(compute, "compute") if compute else None, purpose=purpose,
                                  budget_fen=parse_amount(budget), deadline=parse_deadline(deadline))
        d = demands.post(ex, actor(ex, org), spec)
        if fmt == Format.json:
            print_json(demands.demand_json(d))
        else:
            console.print(f"Posted demand [bold]{d.id}[/]: {len(d.matches['components'])} matching components, "
                          f"{len(d.matches['pools'])} feasible pools, {len(d.matches['orgs'])} orgs notified")

    @demand_app.command("list")
    @handles_errors
    def demand_list(org: Annotated[str, typer.Argument(help="Who is looking")], state: str | None = None,
                    mine: bool = False, fmt: FormatOpt = Format.table) -> None:
        """Open demands (a public board), plus closed ones ORG posted or bid on."""
        from suanshu.market import demands

        ex = open_exchange()
        items = [demands.demand_json(d) for d in demands.list_demands(ex, actor(ex, org), state=state, mine=mine)]
        if fmt == Format.json:
            print_json(items)
            return
        table("Demands", ["title", "state", "budget", "deadline (Asia/Shanghai)", "compute", "id"],
              [(d["title"], d["state"], format_fen(d["budget_fen"]),
                local(datetime.fromisoformat(d["deadline"])),
                "yes" if d["compute"] else "-", d["id"]) for d in items])

    @demand_app.command("show")
    @handles_errors
    def demand_show(org: str, demand_id: str, fmt: FormatOpt = Format.table) -> None:
        """A demand and its bids side by side (the buyer sees every bid; a bidder its own)."""
        from suanshu.market import demands

        ex = open_exchange()
        board = demands.board_json(demands.show(ex, actor(ex, org), demand_id))
        if fmt == Format.json:
            print_json(board)
            return
        console.print(f"[bold]{board['title']}[/] ({board['state']}), budget {format_fen(board['budget_fen'])}")
        winner = (board.get("auction") or {}).get("winner")
        table("Bids", ["kind", "bidder", "offer", "price", "auto", "state", "id"],
              [(b["kind"], b["bidder_name"] or b["bidder"], b["component"] or b["pool"],
                format_fen(b["price_fen"]) + (" /query" if b["kind"] == "data" else " /job")
                + (" ★" if b["pool"] and b["pool"] == winner else ""), "yes" if b["auto"] else "", b["state"], b["id"])
               for b in board["bids"]])

    @demand_app.command("bid")
    @handles_errors
    def demand_bid(org: str, demand_id: str,
                   price: str = typer.Option(..., help="data: per query; compute: for the job"),
                   component: str | None = None, pool: str | None = None,
                   new_component: Annotated[str | None, typer.Option(
                       help="publish this component (JSON of `component publish`'s fields, with "
                                "source_legality_statement) and bid with it")] = None,
                   note: str = "", fmt: FormatOpt = Format.table) -> None:
        """Bid on a demand with a listed component, a new one, or a pool."""
        from suanshu.market import demands
        from suanshu.market.components import ComponentSpec

        ex = open_exchange()
        new = None
        if new_component:
            raw = load_json(new_component, "component")
            new = ComponentSpec(**{**raw, "tags": tuple(raw.get("tags", ())), "sql": raw.get("sql"),
                                   "desensitize": raw.get("desensitize", {})})
        b = demands.bid(ex, actor(ex, org), demand_id, price_fen=parse_amount(price), component=component,
                        pool=pool, note=note, new_component=new)
        print_json(demands.bid_json(b)) if fmt == Format.json else \
            console.print(f"Bid [bold]{b.id}[/] ({b.kind}) at {format_fen(b.price_fen)}")

    @demand_app.command("accept")
    @handles_errors
    def demand_accept(org: str, demand_id: str, bid: Annotated[list[str], typer.Option("--bid")],
                      fmt: FormatOpt = Format.table) -> None:
        """Accept bids (a data bid, the compute auction's winner): contract and holds in one transaction."""
        from suanshu.market import demands

        ex = open_exchange()
        award = demands.accept(ex, actor(ex, org), demand_id, bid)
        print_json(award) if fmt == Format.json else \
            console.print(f"Awarded: contracts {', '.join(award['contracts']) or '-'}; {len(award['holds'])} hold(s)")

    @demand_app.command("sweep")
    @handles_errors
    def demand_sweep(fmt: FormatOpt = Format.table) -> None:
        """Close every open demand past its deadline."""
        from suanshu.market import demands

        closed = demands.sweep(open_exchange())
        print_json({"expired": closed}) if fmt == Format.json else console.print(f"{len(closed)} demand(s) expired")

    @demand_app.command("inbox")
    @handles_errors
    def demand_inbox(org: str, unread: bool = False, fmt: FormatOpt = Format.table) -> None:
        """ORG's notifications (matching demands, bids received, awards)."""
        from suanshu.market import demands

        ex = open_exchange()
        items = [demands.notification_json(n) for n in demands.notifications(ex, actor(ex, org), unread=unread)]
        if fmt == Format.json:
            print_json(items)
            return
        table("Notifications", ["time", "kind", "message", "about"],
              [(local(datetime.fromisoformat(n["created_at"])), n["kind"], n["message"],
                n["subject"]) for n in items])

    # -- auctions -----------------------------------------------------------------------------

    @auction_app.command("run")
    @handles_errors
    def auction_run(org: str, job: Annotated[str, typer.Argument(help="job shape JSON or file")],
                    deadline_hours: float | None = None, fmt: FormatOpt = Format.table) -> None:
        """Every pool bids for JOB from its price plan; the cheapest feasible bid meeting the deadline wins."""
        from suanshu.market import auction

        ex = open_exchange()
        a, _ = auction.run(ex, actor(ex, org), load_json(job, "job"), deadline_hours=deadline_hours)
        out = auction.auction_json(a)
        if fmt == Format.json:
            print_json(out)
            return
        table(f"Auction {a.id} (audit #{a.audit_seq}) winner: {a.winner_pool_id or 'none'}",
              ["pool", "feasible", "price", "cost", "finish h", "meets deadline", "reason"],
              [(b["pool"], b["feasible"], "-" if b["price_fen"] is None else format_fen(b["price_fen"]),
                "-" if b["cost_fen"] is None else format_fen(b["cost_fen"]), b["finish_hours"], b["meets_deadline"],
                b["reason"] or "") for b in out["bids"]])

    @auction_app.command("offer")
    @handles_errors
    def auction_offer(org: str, pool: str, floor: str | None = None, ceiling: str | None = None,
                      ready_hours: int = 0, disable: bool = False, fmt: FormatOpt = Format.table) -> None:
        """Set POOL's auction terms: a floor (minimum charge), a ceiling (package price), hours until ready."""
        from suanshu.market import auction

        ex = open_exchange()
        o = auction.set_offer(ex, actor(ex, org), pool, floor_fen=parse_amount(floor) if floor else None,
                              ceiling_fen=parse_amount(ceiling) if ceiling else None, ready_hours=ready_hours,
                              enabled=not disable)
        out = {"pool": o.pool_id, "floor_fen": o.floor_fen, "ceiling_fen": o.ceiling_fen,
               "ready_hours": o.ready_hours, "enabled": o.enabled}
        print_json(out) if fmt == Format.json else console.print(f"Offer for {o.pool_id}: {out}")

    # -- registration ---------------------------------------------------------------------------

    @component_app.command("certificate")
    @handles_errors
    def component_certificate(component_id: Annotated[str, typer.Argument(help="component id or name")],
                              out: Annotated[Path, typer.Option("--out", "-o", help="where to write the HTML")],
                              base_url: Annotated[str, typer.Option(help="the exchange's public URL, for the "
                                                                    "verification link")] = "",
                              fmt: FormatOpt = Format.table) -> None:
        """Write the signed registration certificate (登记证书) of a listed component as printable HTML."""
        from suanshu.market import registration

        ex = open_exchange()
        reg = registration.ensure(ex, None, component_id)
        out.write_text(registration.certificate_html(ex, reg, base_url=base_url), encoding="utf-8")
        result = {**registration.registration_json(reg), "file": str(out)}
        print_json(result) if fmt == Format.json else console.print(
            f"Registration [bold]{reg.id}[/] (audit #{reg.audit_seq}) written to {out}")
