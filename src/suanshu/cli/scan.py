"""`suanshu scan`: the security scan (数据安全检测) of any table file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from suanshu.cli.output import Format, handles_errors, print_json

FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="json (DESIGN §5 contract) or table")]


def register(app: typer.Typer, print_columns) -> None:
    @app.command()
    @handles_errors
    def scan(path: Path, fmt: FormatOpt = Format.json,
             max_findings: Annotated[int | None, typer.Option(help="Cap the findings listed")] = None) -> None:
        """Scan a table file for personal and sensitive information (JSON contract: DESIGN.md §5)."""
        from suanshu.scan.report import scan_path

        report = scan_path(path, max_findings=max_findings)
        print_json(report) if fmt == Format.json else print_columns(report)
