"""`suanshu catalog …`, `suanshu demand …`, `suanshu component certificate` (issue 8). Thin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from suanshu.cli.output import Format, console, handles_errors, print_json, table
from suanshu.core.money import format_fen
from suanshu.market import search

FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="table for people, json for scripts")]

catalog_app = typer.Typer(help="The catalog: search, DCAT export and import.", no_args_is_help=True)


def register(app: typer.Typer, component_app: typer.Typer, open_exchange: Callable) -> None:
    app.add_typer(catalog_app, name="catalog")

    @catalog_app.command("search")
    @handles_errors
    def catalog_search(q: Annotated[str, typer.Argument(help="Words, Chinese or not: 长沙 降雨")] = "",
                       region: str | None = None,
                       grade: Annotated[str | None, typer.Option(help="highest grade wanted, e.g. general-2")] = None,
                       mode: str | None = None, price_min: Annotated[int | None, typer.Option(help="fen")] = None,
                       price_max: Annotated[int | None, typer.Option(help="fen")] = None,
                       limit: int = 20, offset: int = 0, fmt: FormatOpt = Format.table) -> None:
        """Ranked catalog search (segmentation, synonyms, filters by region, grade, mode and price)."""
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
