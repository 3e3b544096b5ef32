"""`suanshu job`: compute-to-data jobs under a contract (thin: every command calls market.jobs).

Local mode: the data dir's holder acts as the contract's buyer. ``job submit`` waits for the job to
finish (the embedded executor runs in this process) and prints it with its bill; exit 0 when it
succeeded, 3 when it was denied or cancelled, 1 when the program failed.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from suanshu.cli.output import Format, console, handles_errors, print_json, table
from suanshu.core.clock import local
from suanshu.core.errors import UsageError
from suanshu.core.money import format_fen

if TYPE_CHECKING:
    from suanshu.market.exchange import Exchange

FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="table for people, json for scripts")]
EXIT = {"succeeded": 0, "denied": 3, "cancelled": 3, "failed": 1}


def _accelerators(values: list[str]) -> dict[str, int]:
    out = {}
    for v in values:
        kind, _, n = v.partition("=")
        if not kind or not n.isdigit() or int(n) < 1:
            raise UsageError("job.bad_request", f"--accelerator takes TYPE=N (e.g. ascend-910b=1), got {v!r}")
        out[kind] = out.get(kind, 0) + int(n)
    return out


def _show(job, fmt: Format) -> None:
    from suanshu.market import jobs

    d = jobs.job_json(job)
    if fmt == Format.json:
        print_json(d)
        return
    console.print(f"Job [bold]{d['id']}[/] under {d['contract']}: [bold]{d['state']}[/]")
    p = d["placement"]
    if p.get("pool"):
        console.print(f"  pool {p['pool_name']} in {p['region']} ({p['executor']}): {p.get('why', '')}")
    for a in p.get("attempts", []):
        if a.get("outcome"):
            console.print(f"  attempt on {a['pool']}: {a['outcome']} ({a.get('error')}), charged {a['charged_fen']} fen")
    if p.get("waiting") and d["state"] == "queued":
        w = p["waiting"]
        console.print(f"  waiting since {w['since']} ({w['code']}): {w['reason']}")
    if d["error"]:
        console.print(f"  [red]{d['error']['code']}[/]: {d['error']['message']}")
    r = d["receipt"]
    if r:
        console.print(f"  bill {format_fen(r['price_fen'])}: data {format_fen(r['data_fen'])}, compute "
                      f"{format_fen(r['compute_fen'])}, transfer {format_fen(r['transfer_fen'])} -> data provider "
                      f"{format_fen(r['data_provider_fen'])}, compute provider {format_fen(r['compute_provider_fen'])}, "
                      f"operator {format_fen(r['operator_fen'])} (audit #{r.get('audit_seq')})")
        for f in r.get("outputs", []):
            console.print(f"  output {f['name']} ({f['bytes']} bytes, sha256 {f['sha256'][:16]}…)")


def register(app: typer.Typer, open_exchange: Callable[[], Exchange]) -> None:
    job_app = typer.Typer(help="Compute-to-data jobs (policy mode job): run a program next to the data.",
                          no_args_is_help=True)
    app.add_typer(job_app, name="job")

    @job_app.command("submit")
    @handles_errors
    def submit(contract: str, program: Annotated[Path, typer.Argument(help="A Python file")],
               cpu: int = 1, memory_gb: Annotated[int, typer.Option("--memory-gb")] = 1,
               accelerator: Annotated[list[str], typer.Option("--accelerator", help="TYPE=N, repeatable")] = [],  # noqa: B006
               hours: float = 1.0, fmt: FormatOpt = Format.table) -> None:
        """Run PROGRAM under CONTRACT as its buyer: placed, run in the sandbox, checked, billed."""
        try:
            source = program.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise UsageError("job.bad_program", f"cannot read {program}: {err}") from None
        from suanshu.market import contracts, jobs

        ex = open_exchange()
        job = jobs.submit(ex, contracts.buyer_of(ex, contract), contract, source,
                          {"cpu": cpu, "memory_gb": memory_gb, "hours": hours,
                           "accelerators": _accelerators(accelerator)})
        if job.state == "placed":
            job = jobs.run(ex, job.id)
        _show(job, fmt)
        raise typer.Exit(EXIT.get(job.state, 0))

    @job_app.command("sweep")
    @handles_errors
    def sweep(fmt: FormatOpt = Format.table) -> None:
        """Recover jobs whose runner died, then place waiting jobs where capacity has freed and run
        them here, one after another (a server's sweeper does this every SUANSHU_JOB_SWEEP_SECONDS)."""
        from suanshu.market import jobs

        ex = open_exchange()
        lost = jobs.recover(ex)
        done = [jobs.run(ex, j.id) for j in jobs.drain(ex)]
        if fmt == Format.json:
            print_json({"recovered": [jobs.job_json(j) for j in lost], "ran": [jobs.job_json(j) for j in done]})
            return
        console.print(f"{len(lost)} job(s) recovered from a dead runner, {len(done)} placed from the queue and run")
        for job in [*lost, *done]:
            _show(job, fmt)

    @job_app.command("status")
    @handles_errors
    def status(job_id: str, fmt: FormatOpt = Format.table) -> None:
        """A job's state, placement, metering, output check and bill."""
        from suanshu.market import jobs

        _show(jobs.get_job(open_exchange(), None, job_id), fmt)

    @job_app.command("list")
    @handles_errors
    def list_(contract: Annotated[str | None, typer.Option(help="Only this contract's jobs")] = None,
              fmt: FormatOpt = Format.table) -> None:
        """Every job (local mode sees all)."""
        from suanshu.market import jobs

        found = jobs.list_jobs(open_exchange(), None, contract)
        if fmt == Format.json:
            print_json([jobs.job_json(j) for j in found])
            return
        table("Jobs", ["job", "contract", "state", "pool", "price", "created (Asia/Shanghai)"],
              [(j.id, j.contract_id, j.state, j.placement.get("pool_name", "-"), format_fen(j.price_fen),
                local(j.created_at)) for j in found])

    @job_app.command("logs")
    @handles_errors
    def logs(job_id: str, fmt: FormatOpt = Format.table) -> None:
        """The program's stdout and stderr, once the job has finished and passed the output check."""
        from suanshu.market import jobs

        text = jobs.logs(open_exchange(), None, job_id)
        print_json({"job": job_id, "logs": text}) if fmt == Format.json else typer.echo(text, nl=False)

    @job_app.command("cancel")
    @handles_errors
    def cancel(job_id: str, fmt: FormatOpt = Format.table) -> None:
        """Cancel: at once before it runs (the hold is released); a running job is stopped by its runner."""
        from suanshu.market import jobs

        _show(jobs.cancel(open_exchange(), None, job_id), fmt)

    @job_app.command("outputs")
    @handles_errors
    def outputs(job_id: str, out: Annotated[Path | None, typer.Option("--dir", help="Write the files here")] = None,
                fmt: FormatOpt = Format.table) -> None:
        """The checked outputs of a succeeded job (with --dir, written to that directory)."""
        from suanshu.market import jobs

        files = jobs.output_files(open_exchange(), None, job_id)
        items = []
        for meta, body in files:
            item = dict(meta)
            if out is not None:
                target = (out / meta["name"]).resolve()
                if not target.is_relative_to(out.resolve()):
                    raise UsageError("job.bad_output_name", f"output name {meta['name']!r} leaves --dir")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(body)
                item["path"] = str(target)
            elif fmt == Format.json:
                item["content_base64"] = base64.b64encode(body).decode()
            items.append(item)
        if fmt == Format.json:
            print_json({"job": job_id, "files": items})
            return
        table(f"Outputs of {job_id}", ["file", "bytes", "sha256", "written to"],
              [(i["name"], i["bytes"], i["sha256"][:16] + "…", i.get("path", "-")) for i in items])
