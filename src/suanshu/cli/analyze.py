"""`suanshu analyze`: one governed query on a local table file (stable contract, DESIGN §5).

Useful to a provider for trying a policy before publishing it: DATA (CSV, Parquet or xlsx) is
ingested as the vault would ingest it, exposed as the policy's ``table`` in the same hardened
sandbox, and the query runs through the same engine as on the exchange.

Output (``--format json``): ``{"status": "ok", "columns", "rows", "epsilon_spent"}`` with exit 0;
a refusal ``{"status": "denied", "code", "reason"}`` with exit 3; bad input (unreadable data or
policy, SQL that does not parse) the same shape with ``"status": "error"`` and exit 2.
``--state FILE`` keeps dp mode's ε budget between runs (one budget per policy table name);
without it every run starts afresh. ``--own NAME=FILE`` (repeatable) loads the analyst's own
table as ``NAME``, which the query may join once on a ``join`` column of the policy
(``JOIN NAME ON t.key = NAME.col``; see policy.sqlguard).
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from suanshu.cli.output import Format, check_text, print_json, table
from suanshu.core.errors import Refused, SuanshuError, UsageError

FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="json (stable contract) or table")]


def load_policy(value: str | Path):
    """A policy, JSON or YAML, inline or in a file (the loader `component publish` uses too)."""
    from suanshu.cli import documents
    from suanshu.policy import Policy

    return Policy.from_dict(documents.load(value, "policy", code="policy.bad_file"))


_OWN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def parse_own(specs: list[str], policy) -> dict[str, Path]:
    """``NAME=FILE`` options -> {name: file}; names are simple identifiers unlike the policy table's."""
    from suanshu.policy.model import fold

    own: dict[str, Path] = {}
    for spec in specs:
        name, sep, file = spec.partition("=")
        if not sep or not _OWN_NAME.fullmatch(name) or not file:
            raise UsageError("analyze.bad_own", f"--own takes NAME=FILE with NAME a simple identifier, got {spec!r}")
        if fold(name) == fold(policy.table) or fold(name) in {fold(n) for n in own}:
            raise UsageError("analyze.bad_own", f"--own name {name!r} is already taken (the policy table or "
                             "another --own); choose another")
        own[name] = Path(file)
    return own


def analyze_file(data: Path, policy, sql: str, *, state: Path | None = None, purpose: str | None = None,
                 region: str | None = None, max_rows: int = 10_000, own: dict[str, Path] | None = None):
    from suanshu.policy import FileBudgetStore, MemoryBudgetStore, Sandbox, own_tables, run
    from suanshu.vault.ingest import ingest_file

    policy.check_terms(purpose=purpose, region=region)
    budget = FileBudgetStore(state) if state is not None else MemoryBudgetStore()
    own = own or {}
    with tempfile.TemporaryDirectory(prefix="suanshu-analyze-") as tmp:
        files = {"data": Path(tmp) / "data.parquet"}
        ingest_file(data, files["data"])
        views = {policy.table: 'SELECT * FROM vault."data"'}
        for i, (name, path) in enumerate(own.items()):
            files[f"own{i}"] = Path(tmp) / f"own{i}.parquet"
            ingest_file(path, files[f"own{i}"])
            views[name] = f'SELECT * FROM vault."own{i}"'
        with Sandbox(files, views=views) as box:
            return run(box, policy, sql, max_rows=max_rows, budget=budget, budget_key=f"table:{policy.table}",
                       own=own_tables(box, list(own)))


def register(app: typer.Typer) -> None:
    @app.command()
    def analyze(
        data: Annotated[Path, typer.Argument(help="CSV, Parquet or xlsx file loaded as the policy's table")],
        policy: Annotated[str, typer.Option("--policy", help="Policy file (JSON or YAML), or the policy inline")],
        sql: Annotated[str, typer.Option("--sql", help="The query")],
        state: Annotated[Path | None, typer.Option("--state", help="JSON file keeping the ε budget between runs")] = None,
        purpose: Annotated[str | None, typer.Option(help="Declared purpose (checked against the policy's)")] = None,
        region: Annotated[str | None, typer.Option(help="Region this runs in (checked against residency)")] = None,
        own: Annotated[list[str] | None, typer.Option(
            "--own", help="Your own table NAME=FILE (CSV, Parquet, xlsx) to join on a policy join column; repeatable")] = None,
        fmt: FormatOpt = Format.json,
    ) -> None:
        """Run one governed query on a local table file; exit 0 answered, 3 denied, 2 bad input."""
        try:
            check_text({"policy": policy, "sql": sql, "purpose": purpose, "region": region, "own": own or []})
            rules = load_policy(policy)
            answer = analyze_file(data, rules, sql, state=state, purpose=purpose, region=region,
                                  own=parse_own(own or [], rules))
        except SuanshuError as err:
            status = "denied" if isinstance(err, Refused) else "error"
            body = {"status": status, "code": err.code, "reason": err.message}
            if fmt == Format.json:
                print_json(body)
            else:
                typer.echo(f"{status} {err.code}: {err.message}", err=True)
            raise typer.Exit(err.exit_code) from None
        if fmt == Format.json:
            print_json({"status": "ok", "columns": answer.columns, "rows": [list(r) for r in answer.rows],
                        "epsilon_spent": answer.epsilon_spent, "truncated": answer.truncated})
        else:
            table(f"{answer.rows_out} rows (ε spent {answer.epsilon_spent:g})", answer.columns, answer.rows)
