"""`suanshu scan`: the security scan (数据安全检测) of any table file."""

from __future__ import annotations

import sys
import tempfile
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from suanshu.cli.output import console, err_console, handles_errors, table
from suanshu.core.errors import UsageError


class ScanFormat(str, Enum):
    json = "json"
    table = "table"
    html = "html"


def register(app: typer.Typer, print_columns) -> None:
    @app.command()
    @handles_errors
    def scan(
        path: Path,
        fmt: Annotated[ScanFormat, typer.Option(
            "--format", "-f", help="json (DESIGN §5 contract), table, or html (standalone report)")] = ScanFormat.json,
        max_findings: Annotated[int | None, typer.Option(min=0, help="Cap the findings listed")] = None,
        sample: Annotated[int | None, typer.Option(
            min=1, help="Scan only the first N rows: a quick column classification of a huge table")] = None,
        k_anonymity: Annotated[str | None, typer.Option(
            "--k-anonymity", help="Comma-separated quasi-identifier columns to report k for")] = None,
        output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the report here")] = None,
        workers: Annotated[int | None, typer.Option(
            min=1, help="Processes scanning batches side by side (default: every usable core; "
                        "1 scans in this process, with the least memory)")] = None,
    ) -> None:
        """Scan a table file for personal and sensitive information (JSON contract: DESIGN.md §5)."""
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        from suanshu.scan.report import FindingsSpill, scan_path, write_json

        quasi = [c.strip() for c in k_anonymity.split(",") if c.strip()] if k_anonymity else None
        if output is not None:
            _check_output(output)  # before the scan, which may take minutes
        with tempfile.TemporaryDirectory(prefix="suanshu-findings-") as tmp:
            # JSON lists every finding: they go to disk batch by batch and are streamed out, so
            # memory stays flat on a 2 GB file; table and html show counts only, not findings.
            spill = FindingsSpill(Path(tmp) / "findings.arrows") if fmt == ScanFormat.json else None
            # The bar goes to stderr and only to a terminal, so JSON on stdout stays clean.
            with Progress(TextColumn("scanning"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                          console=err_console, transient=True, disable=not err_console.is_terminal) as bar:
                task = bar.add_task("scan", total=None)
                report = scan_path(path, max_findings=max_findings if spill else 0, sample=sample,
                                   k_anonymity=quasi, spill=spill, workers=workers,
                                   progress=lambda done, total: bar.update(task, completed=done, total=total))
            if fmt == ScanFormat.json:
                if output:
                    with _writing(output), output.open("w", encoding="utf-8") as f:
                        write_json(report, f)
                else:
                    write_json(report, sys.stdout)
                return
        if fmt == ScanFormat.html:
            from suanshu.scan.html import render

            text = render(report)
            if output:
                with _writing(output):
                    output.write_text(text, encoding="utf-8")
            else:
                sys.stdout.write(text)
        else:
            print_columns(report)
            table("Quality", ["column", "nulls", "distinct", "duplicates", "kind", "conformity", "min", "max"],
                  [(c["name"], c["quality"]["nulls"], c["quality"]["distinct"], c["quality"]["duplicates"],
                    c["quality"]["kind"], f"{c['quality']['conformity']:.0%}", c["quality"].get("min"),
                    c["quality"].get("max")) for c in report["columns"]])
            if report.get("k_anonymity"):
                k = report["k_anonymity"]
                console.print(f"k-anonymity over {', '.join(k['columns'])}: k = {k['k']} "
                              f"({k['classes']} classes; rows in classes below 2/5/10: "
                              f"{k['rows_below']['2']}/{k['rows_below']['5']}/{k['rows_below']['10']})")


def _check_output(output: Path) -> None:
    if output.is_dir():
        raise UsageError("scan.bad_output", f"{output} is a directory: name a file to write the report to")
    if not output.parent.is_dir():
        raise UsageError("scan.bad_output", f"no directory {output.parent} to write {output.name} in")


@contextmanager
def _writing(output: Path):
    try:
        yield
    except OSError as err:
        raise UsageError("scan.bad_output", f"cannot write {output}: {err.strerror or err}") from None
