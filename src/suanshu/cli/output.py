"""How the CLI speaks: Rich tables for people, JSON for scripts, stable exit codes for both."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable
from enum import Enum
from functools import wraps

import typer
from rich.console import Console
from rich.table import Table

from suanshu.core.errors import SuanshuError, UsageError

console = Console()
err_console = Console(stderr=True)


class Format(str, Enum):
    table = "table"
    json = "json"


def print_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n")


# An id (``cmp_`` + 32 hex digits, or a bare ledger id): people copy it into the next command.
_ID = re.compile(r"(?:[a-z]+_)?[0-9a-f]{32}")


def table(title: str, columns: Iterable[str], rows: Iterable[Iterable]) -> None:
    """A Rich table that never cuts a cell to ``cmp_01a23…``: the first id column (the row's own,
    which people copy into the next command) prints on one line however narrow the terminal;
    other cells fold over lines when they must."""
    columns = list(columns)
    cells = [["" if v is None else str(v) for v in r] for r in rows]
    t = Table(title=title, title_justify="left")
    whole = False
    for i, c in enumerate(columns):
        values = [r[i] for r in cells if r[i]]
        if not whole and values and all(_ID.fullmatch(v) for v in values):
            t.add_column(c, no_wrap=True, min_width=max(map(len, values)))
            whole = True
        else:
            t.add_column(c, overflow="fold")
    for r in cells:
        t.add_row(*r)
    console.print(t)


def check_text(params: dict) -> None:
    """Refuse command-line text that is not UTF-8 before the command runs.

    Python hands undecodable argv bytes over as lone surrogates (``$'\\xff'`` becomes ``'\\udcff'``),
    which fail later wherever the text is encoded: at a database insert, half-way through a command.
    Paths are left alone: a file name may be any bytes."""
    for name, value in params.items():
        for text in value if isinstance(value, list | tuple) else [value]:
            if not isinstance(text, str):
                continue
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise UsageError("text.not_utf8", f"{name.replace('_', '-')} is not UTF-8 text "
                                                  f"({ascii(text)[:60]}); pass it as UTF-8") from None


def fail(err: SuanshuError, fmt: object) -> None:
    """Print ``err`` as the command's format asks and exit with its stable code."""
    if fmt == Format.json:
        print_json(err.to_dict())
    else:
        err_console.print(f"[bold red]error[/] [dim]{err.code}[/]: {err.message}")
        for problem in err.details.get("problems", []):
            err_console.print(f"  - {problem}")
    raise typer.Exit(err.exit_code) from None


def handles_errors(fn: Callable) -> Callable:
    """Map domain errors to a readable message and the stable exit code (2 usage, 3 refusal, 1 internal)."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            check_text(kwargs)
            return fn(*args, **kwargs)
        except SuanshuError as err:
            fail(err, kwargs.get("fmt"))

    return wrapper
