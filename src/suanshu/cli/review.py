"""`suanshu review list|approve|reject` (the operator) and `suanshu component delist|submit|history`.

Local mode: the operator's decisions are taken as the exchange's operator org; a provider's
resubmit is taken as the component's own org.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from suanshu.cli.output import Format, console, handles_errors, print_json, table
from suanshu.core.errors import NotFound

if TYPE_CHECKING:
    from suanshu.market.actors import Actor
    from suanshu.market.exchange import Exchange
    from suanshu.market.models import Component

FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="table for people, json for scripts")]


def register(app: typer.Typer, component_app: typer.Typer, open_exchange: Callable[[], Exchange],
             operator: Callable[[Exchange], Actor]) -> None:
    review_app = typer.Typer(help="The operator's listing review queue.", no_args_is_help=True)
    app.add_typer(review_app, name="review")

    def done(comp: Component, fmt: Format) -> None:
        from suanshu.market import components

        if fmt == Format.json:
            print_json(components.component_json(comp))
        else:
            console.print(f"[bold]{comp.name}[/] v{comp.version} ({comp.id}) is now {comp.state}")

    @review_app.command("list")
    @handles_errors
    def review_list(fmt: FormatOpt = Format.table) -> None:
        """Components waiting for review, with the gate's verdict and the source's scan grade."""
        from suanshu.market import orgs, review

        ex = open_exchange()
        entries = review.queue_entries(ex, operator(ex))
        if fmt == Format.json:
            print_json(entries)
            return
        names = {o.id: o.name for o in orgs.list_orgs(ex)}  # people read the org's name, not its id
        table("Waiting for review", ["id", "org", "name", "v", "grade", "findings", "exposed"],
              [(e["id"], names.get(e["org"], e["org"]), e["name"], e["version"], (e["scan"] or {}).get("grade", "-"),
                (e["scan"] or {}).get("findings_total", 0), ", ".join(e["gate"].get("exposed_columns", [])))
               for e in entries])

    @review_app.command("approve")
    @handles_errors
    def review_approve(component_id: str, note: str = "", fmt: FormatOpt = Format.table) -> None:
        """List a component waiting for review."""
        from suanshu.market import review

        ex = open_exchange()
        done(review.approve(ex, operator(ex), component_id, note=note), fmt)

    @review_app.command("reject")
    @handles_errors
    def review_reject(component_id: str, reason: Annotated[str, typer.Option(help="Shown to the provider")],
                      fmt: FormatOpt = Format.table) -> None:
        """Send a component back to its provider with a reason."""
        from suanshu.market import review

        ex = open_exchange()
        done(review.reject(ex, operator(ex), component_id, reason=reason), fmt)

    @component_app.command("delist")
    @handles_errors
    def component_delist(component_id: str, reason: str = "", fmt: FormatOpt = Format.table) -> None:
        """The operator delists a component: no new contracts; signed ones keep their terms."""
        from suanshu.market import review

        ex = open_exchange()
        done(review.delist(ex, operator(ex), component_id, reason=reason), fmt)

    @component_app.command("submit")
    @handles_errors
    def component_submit(component_id: str, fmt: FormatOpt = Format.table) -> None:
        """The provider queues its draft or rejected version for review again."""
        from suanshu.market import review

        ex = open_exchange()
        done(review.resubmit(ex, _owner(ex, component_id), component_id), fmt)

    @component_app.command("history")
    @handles_errors
    def component_history(component_id: str, fmt: FormatOpt = Format.table) -> None:
        """Every review move of a component, with who, when and why."""
        from suanshu.market import review

        ex = open_exchange()
        rows = review.decisions(ex, operator(ex), component_id)
        if fmt == Format.json:
            print_json(rows)
        else:
            table(f"Review history of {component_id}", ["action", "actor", "time (UTC)", "reason"],
                  [(r["action"], r["actor"], r["time"], r["reason"]) for r in rows])


def _owner(ex: Exchange, component_id: str) -> Actor:
    from suanshu.core.orgs import Organization
    from suanshu.market.actors import Actor
    from suanshu.market.models import Component

    with ex.db.transaction() as s:
        comp = s.get(Component, component_id)
        org = s.get(Organization, comp.org_id) if comp else None
    if org is None:
        raise NotFound("component.not_found", f"no component {component_id!r}; see `suanshu component list`")
    return Actor.of_org(org)
