"""Remote mode: with ``SUANSHU_URL`` and ``SUANSHU_TOKEN`` set, the CLI talks to a server through
``suanshu.client`` instead of opening the local data dir.

Covered commands (the reads and the main trade commands): ``component list``, ``contract request``,
``query``, ``ledger balances``, ``audit verify``. Each keeps its local arguments and output shape;
the token decides who acts, so a named org must be the token's own. Other commands still act on
the local data dir named by SUANSHU_HOME (administration, ingest, serve); ``audit verify
--checkpoints`` refuses in remote mode (``remote.unsupported``): exported checkpoints are checked locally.

The local commands stay as they are: ``install`` wraps each covered command so the remote branch
runs first when the variables are set (functools.wraps keeps Typer's view of the parameters).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable

import typer

from suanshu.cli import views
from suanshu.cli.output import Format, check_text, console, err_console, fail, print_json, table
from suanshu.core.errors import AuthError, NotFound, Refused, SuanshuError, UsageError
from suanshu.core.money import format_fen, parse_amount

URL, TOKEN = "SUANSHU_URL", "SUANSHU_TOKEN"


def client():
    """The client for remote mode, or None in local mode."""
    url = os.environ.get(URL)
    if not url:
        return None
    token = os.environ.get(TOKEN)
    if not token:
        raise UsageError("remote.no_token", f"{URL} is set: set {TOKEN} to an API token too")
    from suanshu.client import Client

    return Client(url, token)


def _as_domain(err) -> SuanshuError:
    """An API error as the CLI's own kind, so exit codes match local mode (2 usage, 3 refused/not found)."""
    kind = {401: AuthError, 404: NotFound, 422: UsageError}.get(err.status, Refused)
    return kind(err.code, err.message, **err.details)


def _acting_as(api, org: str) -> None:
    me = api.me()
    if org not in (me.name, me.id):
        raise UsageError("remote.wrong_org", f"the token acts for {me.name}, not {org}")


def component_list(api, fmt: Format = Format.table) -> None:
    views.show_catalog([vars(c) for c in api.components(state="listed")], fmt)


def contract_request(api, buyer: str, component: str, budget: str, purpose: str = "", days: int = 365,
                     fmt: Format = Format.table) -> None:
    _acting_as(api, buyer)
    c = api.sign(component, parse_amount(budget), purpose=purpose, days=days)
    if fmt == Format.json:
        print_json(vars(c))
    else:
        console.print(f"Signed [bold]{c.id}[/]: {format_fen(c.price_fen)} per query, "
                      f"{format_fen(c.budget_fen)} held, expires {c.expires_at} (UTC)")


def query(api, contract: str, sql: str, fmt: Format = Format.table) -> None:
    result = api.query(contract, sql)
    if fmt == Format.json:
        print_json(vars(result))
        return
    table("Answer", result.columns, result.rows)
    r = result.receipt
    console.print(f"Receipt {r['query']}: {r['rows_out']} rows, charged {format_fen(r['price_fen'])}, "
                  f"budget left {format_fen(r['budget_left_fen'])}, audit #{r['audit_seq']}")


def ledger_balances(api, fmt: Format = Format.table) -> None:
    views.show_balances(api.balances(), fmt)


def audit_verify(api, checkpoints_file=(), fmt: Format = Format.table) -> None:
    if checkpoints_file:
        raise UsageError("remote.unsupported", "--checkpoints is checked locally: unset SUANSHU_URL")
    result = api.verify_audit()
    if fmt == Format.json:
        print_json(result)
    elif result.get("ok"):
        console.print(f"[green]audit log intact[/]: {result.get('entries')} entries")
    else:
        err_console.print(f"[bold red]audit log broken[/] at entry {result.get('first_broken')}")
    if not result.get("ok"):
        raise typer.Exit(3)


REMOTE: dict[tuple[str, str], Callable] = {
    ("component", "list"): component_list, ("contract", "request"): contract_request, ("", "query"): query,
    ("ledger", "balances"): ledger_balances, ("audit", "verify"): audit_verify,
}


def _remote_first(local: Callable, remote: Callable) -> Callable:
    @functools.wraps(local)
    def command(*args, **kwargs):
        try:
            check_text(kwargs)
            api = client()
        except SuanshuError as err:
            return _fail(err, kwargs)
        if api is None:
            return local(*args, **kwargs)
        import httpx

        from suanshu.client import ApiError

        with api:
            try:
                return remote(api, *args, **kwargs)
            except ApiError as err:
                return _fail(_as_domain(err), kwargs)
            except httpx.TransportError as err:
                return _fail(SuanshuError("remote.unreachable", f"cannot reach {os.environ[URL]}: {err}"), kwargs)
            except SuanshuError as err:
                return _fail(err, kwargs)

    return command


def _fail(err: SuanshuError, kwargs: dict):
    fail(err, kwargs.get("fmt"))


def install(groups: dict[str, typer.Typer]) -> None:
    """Wrap the covered commands of ``groups`` ({"": app, "component": component_app, …})."""
    for (group, name), remote in REMOTE.items():
        for info in groups[group].registered_commands:
            if (info.name or info.callback.__name__) == name:
                info.callback = _remote_first(info.callback, remote)
