"""`suanshu audit …` and `suanshu ledger verify`: evidence and money checks (issue 5)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from suanshu.cli.output import Format, console, handles_errors, print_json, table
from suanshu.core.errors import NotFound
from suanshu.core.money import format_fen

FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="table for people, json for scripts")]


class Statement(str, Enum):
    csv = "csv"
    html = "html"
    json = "json"


def register(audit_app: typer.Typer, ledger_app: typer.Typer, open_exchange: Callable) -> None:
    @audit_app.command("verify")
    @handles_errors
    def audit_verify(
        checkpoints_file: Annotated[list[Path], typer.Option(
            "--checkpoints", help="Exported checkpoints (JSON lines) to check the log against, repeatable")] = [],
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Check checkpoint signatures, recompute chain and Merkle root, check consistency between
        checkpoints (database, data dir export, --checkpoints); exit 3 naming the first broken entry."""
        from suanshu.audit import checkpoint as checkpoints

        ex = open_exchange()
        extra = [cp for path in checkpoints_file for cp in checkpoints.read_jsonl(path)]
        with ex.db.transaction() as s:
            result = checkpoints.verify(s, ex.settings.home, extra)
        if fmt == Format.json:
            print_json(result.to_dict())
        elif result.ok:
            console.print(f"[green]audit log intact[/]: {result.entries} entries, root {result.root[:16]}…, "
                          f"{result.checkpoints} signed checkpoints consistent")
        else:
            where = f" at entry {result.first_broken}" if result.first_broken else ""
            console.print(f"[red]audit log broken[/]{where}: {result.reason}")
        if not result.ok:
            raise typer.Exit(3)

    @audit_app.command("checkpoint")
    @handles_errors
    def audit_checkpoint(fmt: FormatOpt = Format.table) -> None:
        """Sign the current tree head now (Ed25519) and append it to the data dir's export."""
        from suanshu.audit import checkpoint as checkpoints

        ex = open_exchange()
        cp = checkpoints.checkpoint(ex.db, ex.settings.home)
        print_json(cp.to_dict()) if fmt == Format.json else console.print(
            f"checkpoint: {cp.tree_size} entries, root {cp.root}, {cp.time}")

    @audit_app.command("export-checkpoints")
    @handles_errors
    def audit_export(out: Annotated[Path | None, typer.Option(help="Write the JSON lines here instead of stdout")] = None,
                     fmt: FormatOpt = Format.table) -> None:
        """Every signed checkpoint, each with the public key that verifies it: JSON lines (what
        `audit verify --checkpoints` reads); --format json prints them as one JSON array instead."""
        from suanshu.audit import checkpoint as checkpoints

        ex = open_exchange()
        public = checkpoints.public_key(ex.settings.home)
        with ex.db.transaction() as s:
            items = [cp.to_dict() | {"public_key": public} for cp in checkpoints.stored(s)]
        text = "".join(json.dumps(cp, sort_keys=True) + "\n" for cp in items)
        if out is not None:
            out.write_text(text, encoding="utf-8")
            print_json({"checkpoints": len(items), "out": str(out)}) if fmt == Format.json else \
                console.print(f"{len(items)} checkpoints written to {out}")
        elif fmt == Format.json:
            print_json(items)
        else:
            sys.stdout.write(text)  # the export itself, to pipe into a file

    @audit_app.command("prove")
    @handles_errors
    def audit_prove(
        event: Annotated[str, typer.Argument(help="Entry number, or a subject such as a query id (qry_…)")],
        tree_size: Annotated[int | None, typer.Option(help="Prove against this tree size "
                                                          "(default: the newest checkpoint covering the entry)")] = None,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """An inclusion proof of EVENT that anyone can check with RFC 9162's algorithm (--format json
        prints the whole proof; docs/ARCHITECTURE.md, "Checking an audit proof")."""
        from sqlalchemy import select

        from suanshu.audit import checkpoint as checkpoints
        from suanshu.audit import log as audit
        from suanshu.audit.models import AuditEvent

        ex = open_exchange()
        with ex.db.transaction() as s:
            seq = int(event) if event.isdigit() else s.scalar(
                select(AuditEvent.seq).where(AuditEvent.subject == event).order_by(AuditEvent.seq.desc()).limit(1))
            if seq is None:
                raise NotFound("audit.entry_not_found", f"no audit entry for {event!r}")
            signed = None
            if tree_size is None:
                signed = next((cp for cp in reversed(checkpoints.stored(s)) if cp.tree_size >= seq), None)
                tree_size = signed.tree_size if signed else None
            proof = audit.prove(s, seq, tree_size)
        if signed is not None:
            proof["checkpoint"] = signed.to_dict() | {"public_key": checkpoints.public_key(ex.settings.home)}
        if fmt == Format.json:
            print_json(proof)
            return
        table(f"Inclusion proof of audit entry #{proof['seq']}", ["field", "value"],
              [("leaf index", proof["leaf_index"]), ("tree size", proof["tree_size"]),
               ("leaf hash", proof["leaf_hash"]), ("root", proof["root"]),
               ("audit path", f"{len(proof['audit_path'])} hashes"),
               ("signed checkpoint", f"{signed.time}" if signed else "none yet (run `suanshu audit checkpoint`)")])
        console.print("--format json prints the whole proof, to check with any RFC 9162 verifier")

    @ledger_app.command("verify")
    @handles_errors
    def ledger_verify(fmt: FormatOpt = Format.table) -> None:
        """Replay every transfer from zero and compare with the stored balances, and check every
        transfer's bytes against its seal in the audit log; exit 3 naming the first that fails."""
        from suanshu.ledger import engine, seals

        ex = open_exchange()
        with ex.db.transaction() as s:
            result, sealed = engine.verify(s), seals.verify(s)
        if fmt == Format.json:
            print_json(result.to_dict() | {"ok": result.ok and sealed.ok, "seals": sealed.to_dict()})
        else:
            if result.ok:
                console.print(f"[green]ledger consistent[/]: {result.transfers} transfers replayed over "
                              f"{result.accounts} accounts")
            else:
                console.print(f"[red]ledger inconsistent[/]: {result.reason} "
                              f"(transfer {result.transfer or '-'}, account {result.account or '-'})")
            if sealed.ok:
                console.print(f"[green]transfers intact[/]: {sealed.transfers} match {sealed.seals} seals")
            else:
                console.print(f"[red]transfer tampered[/]: {sealed.reason}")
        if not (result.ok and sealed.ok):
            raise typer.Exit(3)

    @ledger_app.command("expire")
    @handles_errors
    def ledger_expire(fmt: FormatOpt = Format.table) -> None:
        """Void every pending transfer whose timeout has passed (TigerBeetle's expiry)."""
        from suanshu.ledger.sweeper import expire

        expired = expire(open_exchange().db)
        print_json({"expired": expired}) if fmt == Format.json else console.print(
            f"{len(expired)} pending transfers expired")

    @ledger_app.command("serve")
    @handles_errors
    def ledger_serve(socket: Annotated[Path | None, typer.Option(
            help="Unix socket to listen on (default: ledger.sock in the data dir)")] = None,
            sweep_seconds: Annotated[float, typer.Option(
                help="How often pending transfers past their timeout are voided")] = 1.0) -> None:
        """Run the ledger's sequencer in this process, serving clients over a Unix socket; the
        shared key is ledger.key in the data dir (created 0600 on first use). Expired pending
        transfers are voided every --sweep-seconds."""
        import os
        import secrets

        from suanshu.ledger.server import LedgerServer
        from suanshu.ledger.sweeper import ExpirySweeper

        ex = open_exchange()
        key_file = ex.settings.home / "ledger.key"
        if not key_file.exists():
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(secrets.token_bytes(32))
        address = socket or ex.settings.home / "ledger.sock"
        server = LedgerServer(ex.db, address, key_file.read_bytes())
        sweeper = ExpirySweeper(ex.db, sweep_seconds).start()
        console.print(f"ledger server on {address} (key {key_file})")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            server.close()
        finally:
            sweeper.stop()

    @ledger_app.command("usage")
    @handles_errors
    def ledger_usage(file: Annotated[Path, typer.Argument(help="JSON lines of CloudEvents-shaped usage events")],
                     fmt: FormatOpt = Format.table) -> None:
        """Ingest usage events (id, source, type, subject, time, data); resends are dropped."""
        from suanshu.core.orgs import OPERATOR_ORG
        from suanshu.market import billing, orgs

        from suanshu.core.errors import UsageError

        try:
            events = [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
        except (OSError, ValueError) as exc:  # ValueError: a line not JSON, a file not UTF-8
            raise UsageError("billing.bad_usage_file", f"cannot read usage events from {file}: {exc}") from None
        ex = open_exchange()
        out = billing.ingest_usage(ex, orgs.local_actor(ex, OPERATOR_ORG), events)
        print_json(out) if fmt == Format.json else console.print(
            f"{out['new']} new usage events, {out['duplicates']} duplicates dropped")

    @ledger_app.command("void-usage")
    @handles_errors
    def ledger_void_usage(source: Annotated[str, typer.Argument(help="The event's source, as stored")],
                          id: Annotated[str, typer.Argument(help="The event's id, as stored")],
                          reason: Annotated[str, typer.Option(help="Why it is voided (kept in the audit log)")],
                          fmt: FormatOpt = Format.table) -> None:
        """Void a stored usage event no invoice has taken (one rating refuses: billing.bad_usage_event);
        invoices skip it, the row and an audit entry stay. Voiding it again changes nothing."""
        from suanshu.core.orgs import OPERATOR_ORG
        from suanshu.market import billing, orgs

        ex = open_exchange()
        out = billing.void_usage(ex, orgs.local_actor(ex, OPERATOR_ORG), source, id, reason=reason)
        print_json(out) if fmt == Format.json else console.print(
            f"usage event {out['source']}/{out['id']} of contract {out['subject']} voided at {out['voided_at']} "
            f"by {out['voided_by']}: {out['void_reason']}", markup=False, highlight=False)

    @ledger_app.command("invoice")
    @handles_errors
    def ledger_invoice(contract: str,
                       plan: Annotated[str, typer.Option(help="Price plan JSON, inline or a file (see billing/rating.py)")],
                       start: Annotated[str, typer.Option("--from", help="Period start, UTC ISO-8601")],
                       end: Annotated[str, typer.Option("--to", help="Period end (exclusive)")],
                       fmt: FormatOpt = Format.table) -> None:
        """Rate CONTRACT's uninvoiced usage up to the period end and settle it (one linked chain)."""
        from suanshu.cli import documents
        from suanshu.core.orgs import OPERATOR_ORG
        from suanshu.market import billing, orgs

        rates, period = documents.load(plan, "plan", code="billing.bad_plan", yaml=False), (_when(start), _when(end))
        ex = open_exchange()
        inv = billing.issue_invoice(ex, orgs.local_actor(ex, OPERATOR_ORG), contract, rates, *period)
        with ex.db.transaction() as s:
            out = billing.invoice_json(s, inv)
        if fmt == Format.json:
            print_json(out)
            return
        table(f"Invoice {out['id']} for {out['contract']}, {out['period_start']} to {out['period_end']}",
              ["kind", "description", "quantity", "amount"],
              [(x["kind"], x["description"], x["quantity"], format_fen(x["amount_fen"])) for x in out["lines"]])
        console.print(f"Total {format_fen(out['total_fen'])} (provider {format_fen(out['provider_fen'])}, "
                      f"operator {format_fen(out['operator_fen'])}) over {out['events']} usage events")

    @ledger_app.command("statement")
    @handles_errors
    def ledger_statement(org: str, start: Annotated[str, typer.Option("--from")], end: Annotated[str, typer.Option("--to")],
                         as_: Annotated[Statement | None, typer.Option(
                             "--as", help="csv | html | json (default: json with --format json, else csv)")] = None,
                         out: Annotated[Path | None, typer.Option(help="Write here instead of stdout")] = None,
                         fmt: FormatOpt = Format.table) -> None:
        """ORG's cash statement over [--from, --to): CSV, a printable HTML page, or JSON."""
        from suanshu.market import billing

        period = _when(start), _when(end)
        st = billing.statement(open_exchange(), None, org, *period)
        kind = as_ or (Statement.json if fmt == Format.json else Statement.csv)
        text = {Statement.csv: billing.statement_csv, Statement.html: billing.statement_html,
                Statement.json: lambda x: json.dumps(x, ensure_ascii=False, indent=2) + "\n"}[kind](st)
        if out is None:
            sys.stdout.write(text)
            return
        out.write_text(text, encoding="utf-8")
        print_json({"org": org, "as": kind.value, "out": str(out)}) if fmt == Format.json else \
            console.print(f"{kind.value} statement of {org} written to {out}")

    @ledger_app.command("reconcile")
    @handles_errors
    def ledger_reconcile(fmt: FormatOpt = Format.table) -> None:
        """Invoice totals = sum of lines = settlement transfers, and the ledger replays; exit 3 if not."""
        from suanshu.market import billing

        report = billing.reconcile(open_exchange())
        if fmt == Format.json:
            print_json(report)
        else:
            console.print(("[green]reconciled[/]" if report["ok"] else "[red]does not reconcile[/]")
                          + f": {report['invoices']} invoices, {report['total_fen']} fen")
            for p in report["problems"]:
                console.print(f"  {p}")
        if not report["ok"]:
            raise typer.Exit(3)

    @ledger_app.command("cancel")
    @handles_errors
    def ledger_cancel(contract: str, fmt: FormatOpt = Format.table) -> None:
        """End an active contract as the local operator: void its hold, releasing the unspent budget."""
        from suanshu.market import billing, orgs
        from suanshu.core.orgs import OPERATOR_ORG

        ex = open_exchange()
        result = billing.cancel_contract(ex, orgs.local_actor(ex, OPERATOR_ORG), contract)
        print_json(result) if fmt == Format.json else console.print(
            f"contract {contract} cancelled; hold released by transfer {result['released_transfer']}")

    @ledger_app.command("sweep")
    @handles_errors
    def ledger_sweep(fmt: FormatOpt = Format.table) -> None:
        """Void the holds of expired contracts (run it from cron; safe to repeat)."""
        from suanshu.market import billing

        swept = billing.sweep_expired(open_exchange())
        print_json({"expired": swept}) if fmt == Format.json else console.print(
            f"{len(swept)} expired contracts released")


def _when(value: str):
    from datetime import datetime

    from suanshu.core.errors import UsageError

    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError("billing.bad_time", f"not an ISO-8601 time: {value!r}") from None
    if t.tzinfo is None:
        raise UsageError("billing.bad_time", f"give a UTC offset: {value!r}")
    return t
