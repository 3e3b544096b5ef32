"""How the CLI speaks: Rich tables for people, JSON for scripts, stable exit codes for both."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from enum import Enum
from functools import wraps

import typer
from rich.console import Console
from rich.table import Table

from suanshu.core.errors import SuanshuError

console = Console()
err_console = Console(stderr=True)


class Format(str, Enum):
    table = "table"
    json = "json"


def print_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n")


def table(title: str, columns: Iterable[str], rows: Iterable[Iterable]) -> None:
    t = Table(title=title, title_justify="left")
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*["" if v is None else str(v) for v in r])
    console.print(t)


def handles_errors(fn: Callable) -> Callable:
    """Map domain errors to a readable message and the stable exit code (2 usage, 3 refusal, 1 internal)."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SuanshuError as err:
            if kwargs.get("fmt") == Format.json:
                print_json(err.to_dict())
            else:
                err_console.print(f"[bold red]error[/] [dim]{err.code}[/]: {err.message}")
                for problem in err.details.get("problems", []):
                    err_console.print(f"  - {problem}")
            raise typer.Exit(err.exit_code) from None

    return wrapper
