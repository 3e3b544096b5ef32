"""`suanshu schedule`: offline placement of jobs on pools (stable contract, DESIGN §5), and a what-if simulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from suanshu.cli.output import Format, console, handles_errors, print_json, table
from suanshu.core.errors import UsageError
from suanshu.core.money import format_fen

FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="json (DESIGN §5 contract) or table")]
PoolsOpt = Annotated[Path | None, typer.Option("--pools", help="JSON list of pools (stable pool shape)")]
ModeOpt = Annotated[str, typer.Option("--mode", help="exact (CP-SAT), heuristic, or auto (exact when small)")]
TimeOpt = Annotated[float, typer.Option("--time-limit", help="Seconds for the heuristic's repair, and again for the exact solver")]


def read_json(path: Path | None, what: str):
    if path is None:
        raise UsageError("schedule.missing_input", f"--{what} FILE is required")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError("schedule.file_not_found", f"{what}: no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError("schedule.unreadable", f"{what}: cannot read {path}: {err}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise UsageError("schedule.invalid_json", f"{what}: {path} is not valid JSON: {err}") from None


def register(app: typer.Typer) -> None:
    schedule_app = typer.Typer(help="Place jobs on compute pools (算力调度), offline.", invoke_without_command=True)
    app.add_typer(schedule_app, name="schedule")

    @schedule_app.callback()
    @handles_errors
    def schedule(ctx: typer.Context, pools: PoolsOpt = None,
                 jobs: Annotated[Path | None, typer.Option("--jobs", help="JSON list of jobs")] = None,
                 mode: ModeOpt = "auto", time_limit: TimeOpt = 20.0,
                 explain: Annotated[bool, typer.Option(help="JSON: add cost breakdown and why per job")] = False,
                 fmt: FormatOpt = Format.json) -> None:
        """Place JOBS on POOLS: most jobs placed, then fair share between buyers, then least cost.

        JSON: {"placements": [{"job", "pool", "cost"}], "unplaced": [{"job", "reason", "code"}], "total_cost"}.
        """
        if ctx.invoked_subcommand:
            return
        from suanshu.compute.scheduler import schedule as run

        result = run(read_json(pools, "pools"), read_json(jobs, "jobs"), mode=mode, time_limit=time_limit,
                     explain=explain or fmt == Format.table)
        if fmt == Format.json:
            print_json(result.as_dict(explain))
            return
        table("Placements", ["job", "pool", "cost", "why"],
              [(p.job, p.pool, format_fen(p.cost), p.why) for p in result.placements])
        if result.unplaced:
            table("Unplaced", ["job", "code", "reason"], [(u.job, u.code, u.reason) for u in result.unplaced])
        proof = {True: "proved optimal", False: "not proved optimal", None: "heuristic"}[result.optimal]
        console.print(f"{len(result.placements)} placed, {len(result.unplaced)} unplaced, total "
                      f"[bold]{format_fen(result.total_cost)}[/] ({result.mode}, {proof})")

    @schedule_app.command("simulate")
    @handles_errors
    def simulate(pools: PoolsOpt = None,
                 trace: Annotated[Path | None, typer.Option("--trace", help="JSON list of jobs with arrival (hours)")] = None,
                 mode: ModeOpt = "heuristic", time_limit: TimeOpt = 5.0, fmt: FormatOpt = Format.json) -> None:
        """What-if: replay a job trace on the pools; completion time, wait, utilisation per pool, cost."""
        from suanshu.compute.simulate import simulate as run

        report = run(read_json(pools, "pools"), read_json(trace, "trace"), mode=mode, time_limit=time_limit)
        if fmt == Format.json:
            print_json(report)
            return
        s = report["summary"]
        table("Pools", ["pool", "jobs", "cpu use", "memory use", "accelerator use", "revenue"],
              [(p["pool"], p["jobs"], f"{p['utilisation']['cpu']:.0%}", f"{p['utilisation']['memory_gb']:.0%}",
                ", ".join(f"{t} {u:.0%}" for t, u in p["utilisation"]["accelerators"].items()) or "-",
                format_fen(p["revenue"])) for p in report["pools"]])
        if report["rejected"]:
            table("Rejected", ["job", "code", "reason"], [(r["job"], r["code"], r["reason"]) for r in report["rejected"]])
        console.print(f"{s['completed']} completed, {s['rejected']} rejected; makespan {s['makespan_hours']} h; "
                      f"wait mean {s['wait_hours']['mean']} h, p95 {s['wait_hours']['p95']} h; completion time mean "
                      f"{s['completion_hours']['mean']} h; total [bold]{format_fen(s['total_cost'])}[/]")
