"""``suanshu``: the exchange from a terminal. Thin: every command calls a market service.

Local mode acts through the data dir named by SUANSHU_HOME: whoever holds it administers
the exchange and may act for any org, within that org's roles.

Imports of the product (market services, the database, the query engine) sit inside the
commands, here and in the other cli modules: every `suanshu` run builds the whole command tree,
so a module-level import would make `suanshu --help` and every small command pay seconds of
start-up for code it never runs (tests/cli/test_startup.py keeps the entry module light).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from suanshu.cli import views
from suanshu.cli.output import Format, console, handles_errors, print_json, table
from suanshu.core.clock import iso, local
from suanshu.core.errors import UsageError
from suanshu.core.money import format_fen, parse_amount

if TYPE_CHECKING:
    from suanshu.market.actors import Actor
    from suanshu.market.exchange import Exchange

app = typer.Typer(help="Suanshu (算数): an exchange for data products and compute.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
org_app = typer.Typer(help="Organizations and their API tokens.", no_args_is_help=True)
vault_app = typer.Typer(help="A provider's vault: raw tables that never leave it.", no_args_is_help=True)
component_app = typer.Typer(help="Data components (数据元件): governed products over vault assets.",
                            no_args_is_help=True)
contract_app = typer.Typer(help="Contracts (合约): a buyer's signed terms for a component.", no_args_is_help=True)
ledger_app = typer.Typer(help="The double-entry ledger (integer fen).", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit log (可信可溯源).", no_args_is_help=True)
pool_app = typer.Typer(help="Compute pools (算力池) offered by compute providers.", no_args_is_help=True)
for sub, name in [(pool_app, "pool"), (org_app, "org"), (vault_app, "vault"), (component_app, "component"),
                  (contract_app, "contract"), (ledger_app, "ledger"), (audit_app, "audit")]:
    app.add_typer(sub, name=name)

from suanshu.cli import settlement as _settlement  # noqa: E402  (audit verify/checkpoint/prove, ledger verify)

FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="table for people, json for scripts")]


def open_exchange() -> Exchange:
    """The exchange `suanshu init` made in SUANSHU_HOME. Refused (creating nothing) when there is
    none: a mistyped SUANSHU_HOME used to get a fresh exchange silently, whose operator token
    nobody saw, and a later `init` had none left to show."""
    from suanshu.core.settings import load_settings
    from suanshu.market import orgs
    from suanshu.market.exchange import Exchange

    settings = load_settings()
    if not _initialised(settings):
        raise UsageError("exchange.not_initialised",
                         f"no exchange in {settings.home} (database {settings.database_url.split('@')[-1]}): "
                         "run `suanshu init` first, or point SUANSHU_HOME at an existing one")
    ex = Exchange.open(settings)
    orgs.ensure_operator(ex)  # a database migrated by library code (tests, older versions) may lack it
    return ex


def _initialised(settings) -> bool:
    """Whether the database holds an exchange's schema, asked without creating it (connecting to
    a missing SQLite file would)."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    from suanshu.core import migrate

    url = make_url(settings.database_url)
    if settings.is_sqlite and not (url.database and Path(url.database).is_file()):
        return False
    engine = create_engine(url, poolclass=NullPool)
    try:
        return migrate.current(engine) != []
    finally:
        engine.dispose()


_settlement.register(audit_app, ledger_app, lambda: open_exchange())

from suanshu.cli import market as _market  # noqa: E402  (catalog, demand, component certificate: issue 8)

_market.register(app, component_app, lambda: open_exchange())


def operator(ex: Exchange) -> Actor:
    from suanshu.core.orgs import OPERATOR_ORG
    from suanshu.market import orgs

    return orgs.local_actor(ex, OPERATOR_ORG)


@app.command()
@handles_errors
def init(fmt: FormatOpt = Format.table) -> None:
    """Create the data dir and database, and the exchange's operator org (prints its token once)."""
    from suanshu.market import orgs
    from suanshu.market.exchange import Exchange

    ex = Exchange.open()
    org, token = orgs.ensure_operator(ex)
    out = {"home": str(ex.settings.home), "database": ex.settings.database_url.split("@")[-1],
           "vault": ex.vault.label, "operator_org": org.id, "operator_token": token}
    if fmt == Format.json:
        print_json(out)
    else:
        console.print(f"Exchange ready in [bold]{out['home']}[/] (vault files in {out['vault']})")
        if token:
            console.print(f"Operator token (shown once): [bold]{token}[/]")
        else:
            console.print(f"Its operator org [bold]{org.name}[/] was made before; its first token was shown then "
                          f"(`suanshu org token {org.name}` issues another)")


# -- orgs ---------------------------------------------------------------------------------------

@org_app.command("create")
@handles_errors
def org_create(name: str,
               role: Annotated[list[str], typer.Option("--role", "-r", help="provider|buyer|compute|operator|auditor")],
               display_name: Annotated[str, typer.Option(help="Name shown to people, e.g. 湖南省气象数据中心")] = "",
               region: str = "", fmt: FormatOpt = Format.table) -> None:
    """Create an org with roles; prints its first API token (stored hashed, shown once)."""
    from suanshu.market import orgs

    ex = open_exchange()
    org, token = orgs.create_org(ex, None, name, role, display_name=display_name, region=region)
    out = {"id": org.id, "name": org.name, "roles": org.roles, "region": org.region, "token": token}
    if fmt == Format.json:
        print_json(out)
    else:
        console.print(f"Created [bold]{org.name}[/] ({org.id}) roles={','.join(org.roles)}")
        console.print(f"API token (shown once): [bold]{token}[/]")


@org_app.command("list")
@handles_errors
def org_list(fmt: FormatOpt = Format.table) -> None:
    """All orgs on the exchange."""
    from suanshu.market import orgs

    rows = [{"id": o.id, "name": o.name, "display_name": o.display_name, "roles": o.roles, "region": o.region}
            for o in orgs.list_orgs(open_exchange())]
    if fmt == Format.json:
        print_json(rows)
    else:
        table("Organizations", ["name", "display name", "roles", "region", "id"],
              [(r["name"], r["display_name"], ",".join(r["roles"]), r["region"], r["id"]) for r in rows])


@org_app.command("token")
@handles_errors
def org_token(org: str, label: str = "", fmt: FormatOpt = Format.table) -> None:
    """Issue another API token for an org."""
    from suanshu.market import orgs

    token = orgs.issue_token(open_exchange(), org, label)
    print_json({"org": org, "token": token}) if fmt == Format.json else console.print(token)


# -- vault and scan -----------------------------------------------------------------------------

@vault_app.command("add")
@handles_errors
def vault_add(org: str, file: Path,
              name: Annotated[str | None, typer.Option(help="Asset name (a SQL table name)")] = None,
              fmt: FormatOpt = Format.table) -> None:
    """Ingest FILE (CSV in UTF-8/GBK/GB18030, Parquet, .xlsx) into ORG's vault and scan it."""
    from suanshu.market import assets, orgs

    ex = open_exchange()
    asset, scan = assets.add_asset(ex, orgs.local_actor(ex, org), file, name=name)
    out = assets.asset_json(asset, scan)
    if fmt == Format.json:
        print_json(out)
        return
    console.print(f"Added [bold]{asset.name}[/] ({asset.id}): {asset.rows} rows, encoding {asset.encoding or '-'}, "
                  f"sha256 {asset.content_sha256[:16]}…")
    _print_scan_columns(scan.report)


@vault_app.command("list")
@handles_errors
def vault_list(org: str, fmt: FormatOpt = Format.table) -> None:
    """Assets in ORG's vault."""
    from suanshu.market import assets, orgs

    ex = open_exchange()
    items = [assets.asset_json(a) for a in assets.list_assets(ex, orgs.local_actor(ex, org))]
    if fmt == Format.json:
        print_json(items)
    else:
        table(f"Vault of {org}", ["name", "rows", "format", "encoding", "id"],
              [(a["name"], a["rows"], a["format"], a["encoding"], a["id"]) for a in items])


def _print_scan_columns(report: dict) -> None:
    table(f"Scan: {report['source']} — grade {report['grade']}, {report.get('findings_total', 0)} findings",
          ["column", "types", "pi", "grade"],
          [(c["name"], ", ".join(f"{t['type']} {t['ratio']:.0%}" for t in c["types"]), c["pi"], c["grade"])
           for c in report["columns"]])


# -- components ---------------------------------------------------------------------------------

def _rules(mask: list[str], hash_: list[str], drop: list[str]) -> dict:
    rules: dict = {}
    for spec in mask:
        col, *keep = spec.split(":")
        rule = {"method": "mask"}
        if keep:
            try:
                rule["keep_first"], rule["keep_last"] = (int(keep[0]), int(keep[1]) if len(keep) > 1 else 0)
            except ValueError:
                raise UsageError("component.bad_desensitize_rule", f"--mask {spec}: use COLUMN[:FIRST[:LAST]]") from None
        rules[col] = rule
    rules.update({c: {"method": "hash"} for c in hash_})
    rules.update({c: {"method": "drop"} for c in drop})
    return rules


@component_app.command("publish")
@handles_errors
def component_publish(
    org: str,
    asset: Annotated[str, typer.Option(help="Asset name or id in ORG's vault")],
    name: Annotated[str, typer.Option(help="Component name; buyers query it as a table")],
    policy: Annotated[str, typer.Option(help="Policy, JSON or YAML: inline, or a path to a file (as `analyze` takes)")],
    price: Annotated[str, typer.Option(help="Price per query: yuan (12.50) or fen (1250fen)")],
    sql: Annotated[str | None, typer.Option(help="Projection over the asset (default: all columns)")] = None,
    mask: Annotated[list[str], typer.Option(help="COLUMN[:FIRST[:LAST]] keep first/last chars")] = [],
    hash_: Annotated[list[str], typer.Option("--hash", help="COLUMN: keyed HMAC pseudonym")] = [],
    drop: Annotated[list[str], typer.Option(help="COLUMN: removed from the component")] = [],
    title: str = "", description: str = "",
    tag: Annotated[list[str], typer.Option(help="Catalog tag, repeatable")] = [],
    legality: Annotated[str, typer.Option(help="Source-legality statement (数据来源合法性声明), required: how the "
                                               "data was obtained and on what authorization")] = "",
    draft: Annotated[bool, typer.Option(help="Keep it a draft instead of submitting it for review")] = False,
    fmt: FormatOpt = Format.table,
) -> None:
    """Publish a component for the operator's review; the compliance gate refuses personal information in clear."""
    from suanshu.cli import documents
    from suanshu.market import components, orgs, review

    spec = components.ComponentSpec(name=name, asset=asset, sql=sql,
                                    policy=documents.load(policy, "policy", code="policy.bad_json"),
                                    price_fen=parse_amount(price), desensitize=_rules(mask, hash_, drop),
                                    title=title, description=description, tags=tuple(tag),
                                    source_legality_statement=legality)
    ex = open_exchange()
    comp = review.submit(ex, orgs.local_actor(ex, org), spec, draft=draft)
    if fmt == Format.json:
        print_json(components.component_json(comp))
    else:
        console.print(f"{comp.state}: [bold]{comp.name}[/] v{comp.version} ({comp.id}) at {format_fen(comp.price_fen)} per query; "
                      f"gate passed, exposed columns: {', '.join(comp.gate['exposed_columns']) or '-'}")


@component_app.command("list")
@handles_errors
def component_list(fmt: FormatOpt = Format.table) -> None:
    """The catalog: every listed component."""
    from suanshu.market import components

    views.show_catalog([components.component_json(c) for c in components.catalog(open_exchange())], fmt)


@component_app.command("show")
@handles_errors
def component_show(component: str, fmt: FormatOpt = Format.table) -> None:
    """One component with its columns, policy and gate verdict."""
    from suanshu.market import components

    ex = open_exchange()
    with ex.db.transaction() as s:
        c = components.component_json(components.get_component(s, None, component))
    if fmt == Format.json:
        print_json(c)
        return
    console.print(f"[bold]{c['name']}[/] v{c['version']} ({c['id']}), {c['state']}, {format_fen(c['price_fen'])} "
                  f"per query, {c['policy']['mode']} mode; {c['title']}")
    roles = c["policy"].get("columns", {})
    table("Columns", ["column", "type", "policy role", "desensitized"],
          [(col["name"], col.get("type", ""), roles.get(col["name"], "hidden"),
            (c["desensitize"].get(col["name"]) or {}).get("method", "")) for col in c["columns"]])
    gate = c["gate"]
    console.print(f"Gate: {'passed' if gate.get('passed') else 'refused'}; exposed in clear: "
                  f"{', '.join(gate.get('exposed_columns', [])) or '-'}; --format json shows everything")


# -- contracts and queries ----------------------------------------------------------------------

@contract_app.command("request")
@handles_errors
def contract_request(
    buyer: str, component: str,
    budget: Annotated[str, typer.Option(help="Budget held in escrow: yuan (500) or fen (50000fen)")],
    purpose: str = "", days: int = 365, fmt: FormatOpt = Format.table,
) -> None:
    """BUYER signs for COMPONENT; policy and price are frozen, the budget is held."""
    from suanshu.market import contracts, orgs

    ex = open_exchange()
    c = contracts.request(ex, orgs.local_actor(ex, buyer), component, parse_amount(budget),
                          purpose=purpose, days=days)
    if fmt == Format.json:
        print_json(contracts.contract_json(c))
    else:
        console.print(f"Signed [bold]{c.id}[/]: {format_fen(c.price_fen)} per query, "
                      f"{format_fen(c.budget_fen)} held, expires {local(c.expires_at)} (Asia/Shanghai)")


@contract_app.command("list")
@handles_errors
def contract_list(org: str, fmt: FormatOpt = Format.table) -> None:
    """Contracts where ORG is buyer or provider."""
    from suanshu.market import contracts, orgs

    ex = open_exchange()
    items = [contracts.contract_json(c) for c in contracts.list_contracts(ex, orgs.local_actor(ex, org))]
    if fmt == Format.json:
        print_json(items)
    else:
        table(f"Contracts of {org}", ["id", "state", "price", "spent", "budget"],
              [(c["id"], c["state"], format_fen(c["price_fen"]), format_fen(c["spent_fen"]),
                format_fen(c["budget_fen"])) for c in items])


@app.command()
@handles_errors
def query(contract: str, sql: str, fmt: FormatOpt = Format.table) -> None:
    """Run SQL under CONTRACT's frozen policy, as its buyer; prints the answer and the receipt."""
    from suanshu.market import contracts, queries

    ex = open_exchange()
    buyer = contracts.buyer_of(ex, contract)
    result = queries.run(ex, buyer, contract, sql)
    if fmt == Format.json:
        print_json({"columns": result.columns, "rows": result.rows, "receipt": result.receipt})
        return
    table("Answer", result.columns, result.rows)
    r = result.receipt
    console.print(f"Receipt {r['query']}: {r['rows_out']} rows, charged {format_fen(r['price_fen'])} "
                  f"(provider {format_fen(r['provider_fen'])}, operator {format_fen(r['operator_fen'])}), "
                  f"budget left {format_fen(r['budget_left_fen'])}, audit #{r['audit_seq']}")


# -- ledger and audit ---------------------------------------------------------------------------

@ledger_app.command("deposit")
@handles_errors
def ledger_deposit(org: str, amount: str, reference: str = "", fmt: FormatOpt = Format.table) -> None:
    """The operator records AMOUNT (yuan, or fen with a 'fen' suffix) received for ORG."""
    from suanshu.market import settlement

    ex = open_exchange()
    fen = parse_amount(amount)
    tid = settlement.deposit(ex, operator(ex), org, fen, reference)
    print_json({"transfer": tid, "org": org, "amount_fen": fen}) if fmt == Format.json else \
        console.print(f"Deposited {format_fen(fen)} for {org} (transfer {tid})")


@ledger_app.command("balances")
@handles_errors
def ledger_balances(fmt: FormatOpt = Format.table) -> None:
    """Every account's balance; the posted balances of all accounts always sum to zero."""
    from suanshu.market import settlement

    views.show_balances(settlement.balances(open_exchange(), None), fmt)


@audit_app.command("log")
@handles_errors
def audit_log(limit: int = 20, fmt: FormatOpt = Format.table) -> None:
    """The newest audit entries."""
    from sqlalchemy import select

    from suanshu.audit.models import AuditEvent

    ex = open_exchange()
    with ex.db.transaction() as s:
        events = list(s.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit)))
    items = [{"seq": e.seq, "time": iso(e.time), "actor": e.actor, "action": e.action, "subject": e.subject,
              "hash": e.hash} for e in events]
    if fmt == Format.json:
        print_json(items)
    else:
        table("Audit log", ["#", "time (Asia/Shanghai)", "actor", "action", "subject"],
              [(e.seq, local(e.time), e.actor, e.action, e.subject) for e in events])


# -- compute pools ------------------------------------------------------------------------------

@pool_app.command("add")
@handles_errors
def pool_add(org: str, spec: Annotated[str, typer.Argument(help="Pool JSON, or a path to a JSON file")],
             fmt: FormatOpt = Format.table) -> None:
    """Register a pool for compute provider ORG (kind, arch, region, resources, prices in fen)."""
    from suanshu.cli import documents
    from suanshu.market import orgs, pools

    document = documents.load(spec, "pool", code="pool.bad_json", yaml=False)
    ex = open_exchange()
    pool = pools.register(ex, orgs.local_actor(ex, org), document)
    print_json(pools.pool_json(pool)) if fmt == Format.json else \
        console.print(f"Registered pool [bold]{pool.name}[/] ({pool.id}) in {pool.region}")


@pool_app.command("list")
@handles_errors
def pool_list(fmt: FormatOpt = Format.table) -> None:
    """Every pool on the exchange."""
    from suanshu.market import pools

    items = [pools.pool_json(p) for p in pools.list_pools(open_exchange())]
    if fmt == Format.json:
        print_json(items)
        return
    table("Compute pools", ["pool", "kind", "arch", "region", "cpu", "memory", "accelerators", "cpu ¥/h"],
          [(p["name"], p["kind"], p["arch"], p["region"], p["cpu"], f"{p['memory_gb']} GB",
            ", ".join(f"{k}×{v}" for k, v in p["accelerators"].items()) or "-",
            format_fen(p["price"]["cpu_hour"])) for p in items])


# -- demo and server ----------------------------------------------------------------------------

@app.command()
@handles_errors
def demo(reset: Annotated[bool, typer.Option(help="Wipe SUANSHU_HOME first")] = False) -> None:
    """Build a demo exchange in SUANSHU_HOME, run the whole trade loop, print a report."""
    from suanshu.demo.story import run_demo

    run_demo(reset=reset)


@app.command()
@handles_errors
def serve(host: str = "127.0.0.1", port: int = 8000,
          sweep_seconds: Annotated[float, typer.Option(
              envvar="SUANSHU_SWEEP_SECONDS", help="How often open demands past their deadline are closed")] = 30.0,
          ) -> None:
    """Serve the HTTP API (/api/v1) and the console (/) over SUANSHU_HOME."""
    import gc
    import os
    import signal
    import sys

    import uvicorn

    from suanshu.api.app import create_app

    from suanshu.audit.checkpoint import Checkpointer
    from suanshu.market import demands

    ex = open_exchange()
    # Signed audit checkpoints every N seconds while serving, and one more on shutdown.
    checkpointer = Checkpointer(ex.db, ex.settings.home, ex.settings.checkpoint_seconds).start()
    # Expired demands close themselves (issue 8): the sweep runs beside the server, not per request.
    sweeper = demands.sweeper(ex, sweep_seconds).start()
    # Jobs (issue 6): recover those whose runner died, place waiting ones where capacity freed.
    from suanshu.core.periodic import Periodic
    from suanshu.market import jobs

    job_sweeper = Periodic("job-sweeper", float(os.environ.get("SUANSHU_JOB_SWEEP_SECONDS", 10)),
                           lambda: jobs.sweep(ex)).start()
    # Pending ledger transfers past their timeout are voided, releasing their holds (issue 5).
    from suanshu.ledger.sweeper import ExpirySweeper

    expiry_sweeper = ExpirySweeper(ex.db, float(os.environ.get("SUANSHU_LEDGER_SWEEP_SECONDS", 1))).start()
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it to the handler that was there
    # before; the default one would kill the process before the `finally` below stops the timers
    # (and writes the last checkpoint). Leave through SystemExit instead.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = create_app(ex)
    # Build now what the first search would (the index, its dictionaries), then take everything
    # alive out of the garbage collector's reach: a full collection over the startup heap paused
    # every request for 120-280 ms, which was the API's p99 (bench/api_load.py).
    from suanshu.market import search

    search.index_of(ex)
    gc.freeze()
    try:
        uvicorn.run(app, host=host, port=port, log_level="info")
    finally:
        gc.unfreeze()  # so exit frees the startup heap as usual
        expiry_sweeper.stop()
        job_sweeper.stop()
        sweeper.stop()
        checkpointer.stop()


from suanshu.cli import scan as _scan  # noqa: E402  (registers `suanshu scan`)

_scan.register(app, _print_scan_columns)

from suanshu.cli import schedule as _schedule  # noqa: E402  (registers `suanshu schedule`)

_schedule.register(app)

from suanshu.cli import analyze as _analyze  # noqa: E402  (registers `suanshu analyze`)

_analyze.register(app)

from suanshu.cli import jobs as _jobs  # noqa: E402  (registers `suanshu job`)

_jobs.register(app, lambda: open_exchange())

from suanshu.cli import users as _users  # noqa: E402  (registers `suanshu user`)

_users.register(app, lambda: open_exchange())

from suanshu.cli import review as _review  # noqa: E402  (`suanshu review`, `component delist|submit|history`)

_review.register(app, component_app, lambda: open_exchange(), operator)

from suanshu.cli import remote as _remote  # noqa: E402  (SUANSHU_URL + SUANSHU_TOKEN: through suanshu.client)

_remote.install({"": app, "component": component_app, "contract": contract_app, "ledger": ledger_app,
                 "audit": audit_app})


def main() -> None:
    if not _wants_json(sys.argv[1:]):
        app()
        return
    # Asked for JSON: a bad option or argument (which Typer reports before any command runs, in
    # a box for people) is JSON with a stable code too, for the script that asked.
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        sys.exit(1)
    except typer.TyperException as err:  # Typer's usage errors (its own click's ClickException)
        message = err.format_message() if hasattr(err, "format_message") else str(err)
        print_json(UsageError("cli.bad_usage", message).to_dict())
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


def _wants_json(args: list[str]) -> bool:
    return any(a in ("--format=json", "-fjson") or (a in ("--format", "-f") and nxt == "json")
               for a, nxt in zip(args, [*args[1:], ""], strict=True))
