"""``archive audit``: log (auditors), verify (anyone), checkpoint (auditors)."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import click

from archive_manager.cli.context import CliContext, emit, table
from archive_manager.cli.main import main, pass_cli
from archive_manager.cli.options import common, json_option
from archive_manager.errors import UsageError
from archive_manager.cli.lazy import lazy_module
from archive_manager.text import printable

auditing = lazy_module("archive_manager.auditing")


@main.group()
def audit() -> None:
    """Read and verify the audit trail."""


def _pairs(value) -> str:
    if not value:
        return ""
    if isinstance(value, str):
        return value
    return " ".join(f"{k}={v}" for k, v in sorted(value.items()))


@audit.command("log")
@click.option("--user", "who", help="Only this user's events.")
@click.option("--action", help="get, export, search, file, generate, admin, denied, or an exact action name.")
@click.option("--client", help="Only events about this client.")
@click.option("--since", help="From this date on (YYYY-MM-DD, UTC; or YYYY-MM-DDTHH:MM).")
@click.option("--until", help="Up to and including this date (YYYY-MM-DD, UTC; or YYYY-MM-DDTHH:MM).")
@click.option("--department", help="Only events of members of this department.")
@click.option("--outcome", type=click.Choice(["ok", "denied", "error"]), help="Only events with this outcome.")
@click.option("--document", help="Only events about this document (its id).")
@click.option("--address", help="Only events from this client address, or network (10.0.0.0/24).")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (cells that could start a formula get a leading ').")
@json_option
@lambda f: common(f, user_flag=("-u",))
@pass_cli
def audit_log(cli: CliContext, who, action, client, since, until, department, outcome, document, address,
              as_csv, as_json) -> None:
    """List events with their sealed details (auditors only).

    Here --user filters the events; the acting auditor is -u NAME or
    $ARCHIVE_USER.
    """
    if as_csv and as_json:
        raise UsageError("--csv and --json exclude each other")
    filt = auditing.LogFilter(who, action, client, since, until, department, outcome, document, address)
    rows = [e.to_dict() for e in auditing.read_log(cli.session(), filt)]
    if as_csv:
        out = csv.writer(sys.stdout, lineterminator="\n")
        out.writerow(["seq", "time", "user", "departments", "action", "outcome", "objects", "details",
                      "reason", "host", "signed"])
        for r in rows:
            details = r["details"] if isinstance(r["details"], str) or r["details"] is None \
                else json.dumps(r["details"], ensure_ascii=False, sort_keys=True)
            row = [r["seq"], r["time"], r["user"] or "", ",".join(r["departments"] or []),
                   r["action"], r["outcome"], json.dumps(r["objects"], ensure_ascii=False, sort_keys=True),
                   details or "", r["reason"] or "", r["host"], "yes" if r["signed"] else "no"]
            # CSV, unlike JSON, keeps control characters: escaped, as in the table
            out.writerow([auditing.spreadsheet_cell(printable(v)) if isinstance(v, str) else v for v in row])
        return
    emit(rows, as_json, lambda rows: table([{
        **r, "user": r["user"] or "-", "objects": _pairs(r["objects"]),
        "details": _pairs(r["details"]) + (f" reason: {r['reason']}" if r["reason"] else ""),
    } for r in rows], [("seq", "SEQ"), ("time", "TIME"), ("user", "USER"), ("action", "ACTION"),
                       ("outcome", "OUTCOME"), ("objects", "OBJECTS"), ("details", "DETAILS")]))


@audit.command("verify")
@click.option("--checkpoint", "checkpoint_file", type=click.Path(dir_okay=False, path_type=Path),
              help="A checkpoint kept off the machine: prove the log still extends it.")
@json_option
@common
@pass_cli
def audit_verify(cli: CliContext, checkpoint_file, as_json) -> None:
    """Check every event's hash chain and signature (no passphrase needed).

    Exit 0 with a summary, or exit 1 naming the first bad event.
    """
    text = None
    if checkpoint_file is not None:
        try:
            text = checkpoint_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read checkpoint file {checkpoint_file}: "
                             f"{getattr(exc, 'strerror', None) or exc}") from None
    r = auditing.verify_trail(cli.home, text)

    def show(r: dict) -> None:
        span = f", {r['first_time']} to {r['last_time']}" if r["events"] else ""
        click.echo(f"{r['events']} events{span}")
        for c in r["checkpoints"]:
            state = "ok" if c["ok"] else f"FAILED: {c['reason']}"
            click.echo(f"checkpoint ({c['source']}) of event {c['seq']}, signed by {c['signer']} at {c['time']}: {state}")
        click.echo(f"archive root fingerprint: {r['fingerprint']} (compare it with the one printed at init)")
        if r["ok"]:
            click.echo(f"ok: hash chain and signatures verify; head {r['head'][:16]}…")
        else:
            click.echo(f"FAILED at event {r['failure']['seq']}: {r['failure']['reason']}")

    emit(r.to_dict(), as_json, show)
    if not r.ok:
        sys.exit(1)


@audit.command("checkpoint")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the checkpoint to FILE.")
@common
@pass_cli
def audit_checkpoint(cli: CliContext, output) -> None:
    """Sign the current head of the log (auditors); keep the printed line off the machine."""
    cp = auditing.checkpoint(cli.session())
    line = cp.line()
    if output is not None:
        output.write_text(line + "\n", encoding="utf-8")
    click.echo(line)
    click.echo(f"archive: note: checkpoint of event {cp.seq} signed by {printable(str(cp.signer))}; keep a copy "
               "off this machine and check later with 'archive audit verify --checkpoint FILE'", err=True)
