"""``archive ingest`` and ``archive watch``: the inbox, run as the service user."""

from __future__ import annotations

import json
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import click

from archive_manager.cli.context import CliContext, note as warn, read_passphrase_file, table
from archive_manager.cli.main import ProgressBar, main, pass_cli
from archive_manager.cli.options import common, json_option
from archive_manager.errors import UsageError
from archive_manager.cli.lazy import lazy_module
from archive_manager.text import printable

ingesting = lazy_module("archive_manager.ingesting")
scans = lazy_module("archive_manager.scans")
quarantine = lazy_module("archive_manager.quarantine")
status = lazy_module("archive_manager.ingest.status")

inbox_option = click.option("--inbox", "inbox_dir", type=click.Path(file_okay=False, path_type=Path),
                            help="The inbox (default: [inbox] path in archive.toml, or <home>/inbox).")


def _service_session(cli: CliContext):
    """Sign in as --user/ARCHIVE_USER, else the [inbox] user of archive.toml,
    with --passphrase-file, else the [inbox] passphrase_file, else the usual ways."""
    s = cli.settings
    user = s.user or s.service_user
    if not user:
        raise UsageError("no user given", hint="pass --user NAME, set ARCHIVE_USER, or set [inbox] user in archive.toml")
    if cli.passphrase_file is None and s.service_passphrase_file is not None and user == s.service_user:
        passphrase = read_passphrase_file(str(s.service_passphrase_file))
    else:
        passphrase = cli.passphrase(prompt=f"Passphrase for {user}")
    return cli.home.login(user, passphrase)


def _line(o: ingesting.Outcome) -> str:
    """One file's outcome, printable (names and reasons come from the inbox)."""
    return printable(_outcome(o))


def _outcome(o: ingesting.Outcome) -> str:
    if o.status in ("filed", "new-version", "duplicate"):
        what = {"filed": "filed as", "new-version": "filed as new version of", "duplicate": "duplicate of"}[o.status]
        extra = f" (no searchable text: {o.text})" if o.text else ""
        kept = f"; {o.kept}" if o.kept else ""
        return f"{o.path}: {what} {o.doc_id} v{o.version}{extra}{kept}"
    if o.status == "quarantined":
        return f"{o.path}: quarantined in .failed/: {o.reason}"
    if o.status == "gone":
        return f"{o.path}: {o.reason}"
    return f"{o.path}: left in the inbox, will retry: {o.reason}"


@contextmanager
def _stop_on_signals(stop: threading.Event):
    """SIGTERM and Ctrl-C finish the file in hand, then stop (handlers restored after)."""
    old = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


@main.command("ingest")
@inbox_option
@json_option
@common
@pass_cli
def ingest_cmd(cli: CliContext, inbox_dir, as_json) -> None:
    """File everything in the inbox once, then exit.

    Layout: <inbox>/<CLIENT>/<type>/<file>, with an optional <file>.toml
    (title, date, replaces, tags). Files that cannot be filed go to
    <inbox>/.failed/ with a .reason.txt.
    """
    session = _service_session(cli)
    root = inbox_dir or cli.settings.inbox
    outcomes: list[dict] = []
    ingestor = ingesting.Ingestor(session, root, outcomes.append if as_json else _echo_problem)
    ingestor.check_inbox()
    for note in ingestor.recover():
        click.echo(f"archive: note: {printable(note)}", err=True)
    tracker = ingesting.new_tracker(session, ingestor.root)
    stop = threading.Event()
    total = sum(1 for _ in ingesting.inbox.candidates(ingestor.root))
    with _stop_on_signals(stop), ProgressBar("filing") as bar:
        bar.start(total)
        counts = ingestor.run_pass(tracker, progress=bar.update, stop=stop)
    if as_json:
        click.echo(json.dumps({"counts": vars(counts), "files": [o.to_dict() for o in outcomes]},
                              ensure_ascii=False, indent=2, sort_keys=True))
    else:
        c = counts
        click.echo(f"filed {c.filed}, new versions {c.new_versions}, duplicates {c.duplicates}, "
                   f"quarantined {c.quarantined}, without text {c.without_text}"
                   + (f", left for retry {c.retry}" if c.retry else "")
                   + (f", kept in the inbox to file again {c.kept}" if c.kept else ""))
    if counts.retry:
        sys.exit(1)


def _echo_problem(o: ingesting.Outcome) -> None:
    if o.status in ("quarantined", "retry", "gone") or o.text or o.kept:
        click.echo(f"archive: {'warning' if o.status != 'retry' else 'error'}: {_line(o)}", err=True)


@main.command("watch")
@inbox_option
@click.option("--polling", is_flag=True, help="Poll the inbox instead of file-system events (network shares).")
@json_option
@common
@pass_cli
def watch_cmd(cli: CliContext, inbox_dir, polling, as_json) -> None:
    """File documents dropped into the inbox as they settle, until stopped.

    One line per file (a JSON object per line with --json). SIGTERM or Ctrl-C
    finishes the file in hand and stops.
    """
    from archive_manager.ingest.watcher import InboxEvents

    session = _service_session(cli)
    s = cli.settings
    root = inbox_dir or s.inbox

    def report(o: ingesting.Outcome) -> None:
        click.echo(json.dumps(o.to_dict(), ensure_ascii=False, sort_keys=True) if as_json
                   else f"{o.time} {_line(o)}")

    def report_scan(scan: scans.WaitingScan, r: scans.ScanRead) -> None:
        click.echo(json.dumps({"ocr": r.to_dict()}, ensure_ascii=False, sort_keys=True) if as_json
                   else f"{cli.home.runtime.timestamp()} {printable(_scan_line(scan, r))}")

    reader = scans.ScanReader(session, report_scan)
    beat = status.StatusFile(status.status_path(s.home), session.user, Path(root),
                             warn=lambda message: warn("warning", message))
    ingestor = ingesting.Ingestor(session, root, report, scans=reader, status=beat)
    ingestor.check_inbox()
    for note in ingestor.recover():
        click.echo(f"archive: note: {printable(note)}", err=True)
    stop = threading.Event()
    click.echo(f"archive: watching {printable(str(ingestor.root))} as {printable(session.user)} "
               f"(quiet {s.inbox_quiet:g} s{', polling' if polling else ''}); stop with Ctrl-C or SIGTERM", err=True)
    with _stop_on_signals(stop), InboxEvents(ingestor.root, polling=polling) as events:
        try:
            ingestor.watch(ingesting.new_tracker(session, ingestor.root), events, stop, s.inbox_rescan)
        finally:
            reader.close()
    click.echo("archive: stopped", err=True)


def _scan_line(scan, r) -> str:
    name = f"{scan.doc_id} v{scan.version} ({scan.original_name})"
    if r.status == "ok":
        sure = f", confidence {r.confidence:.2f}" if r.confidence is not None else ""
        return f"{name}: OCR read {r.chars} characters{sure}"
    return f"{name}: OCR found no text: {r.reason}"


@main.command("ocr")
@click.option("--pending", is_flag=True, help="List the scans waiting for OCR; read none.")
@click.option("--limit", type=click.IntRange(min=1), help="Read at most N scans (oldest first).")
@json_option
@common
@pass_cli
def ocr_cmd(cli: CliContext, pending, limit, as_json) -> None:
    """Read the scans waiting for OCR (the watcher does it between filings).

    A scan (an image, a PDF with pages that have no text layer) is filed at
    once and found by its title and number; OCR then reads its text, under
    the [ocr] limits of archive.toml. Acts as --user, else the [inbox] user.
    """
    session = _service_session(cli)
    if pending:
        rows = scans.waiting_scans(session)
        if as_json:
            click.echo(json.dumps([w.to_dict() for w in rows], ensure_ascii=False, indent=2, sort_keys=True))
        else:
            table([w.to_dict() for w in rows], [("doc_id", "DOC"), ("version", "V"), ("client", "CLIENT"),
                                              ("original_name", "FILE"), ("filed_at", "FILED")])
        return
    from archive_manager.ingest.ocr import missing

    why = missing()
    if why is not None:
        raise UsageError("OCR is not installed", hint=why)
    results = scans.read_scans(session, limit, None if as_json else
                               lambda w, r: click.echo(printable(_scan_line(w, r))))
    for r in results:
        for warning in r.warnings:
            warn("warning", warning)
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in results], ensure_ascii=False, indent=2, sort_keys=True))
    elif not results:
        click.echo("no scans wait for OCR")


# --- the quarantine and the watcher's status (issue 19) ---------------------------------


@main.group("inbox")
def inbox_group() -> None:
    """The inbox's quarantine (.failed/) and the watcher's status (admins).

    A quarantined file is named by the ID 'archive inbox failed' lists.
    """


@inbox_group.command("failed")
@inbox_option
@json_option
@common
@pass_cli
def inbox_failed(cli: CliContext, inbox_dir, as_json) -> None:
    """List the files the inbox refused, with their reasons."""
    rows = quarantine.list_quarantine(cli.session(), inbox_dir)
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in rows], ensure_ascii=False, indent=2, sort_keys=True))
        return
    if not rows:
        click.echo("the quarantine is empty")
        return
    for r in rows:
        extra = " (with its sidecar)" if r.sidecar else ""
        kind = "" if r.kind == "file" else f" [{'symbolic link' if r.kind == 'link' else 'not a regular file'}]"
        click.echo(printable(f"{r.id}  {r.path}{kind}  {r.size} bytes  {r.quarantined}{extra}"))
        click.echo(printable(f"    why: {r.why}"))
        if r.fix:
            click.echo(printable(f"    fix: {r.fix}"))


@inbox_group.command("retry")
@click.argument("item_id", metavar="ID")
@inbox_option
@json_option
@common
@pass_cli
def inbox_retry(cli: CliContext, item_id, inbox_dir, as_json) -> None:
    """Move a quarantined file back into the inbox, to be filed at the next pass.

    The watcher (or the next 'archive ingest') files it, or quarantines it
    again with a new reason; its sidecar goes back with it.
    """
    done = quarantine.retry_quarantined(cli.session(), item_id, inbox_dir)
    if as_json:
        click.echo(json.dumps(done.to_dict(), ensure_ascii=False, indent=2, sort_keys=True))
    else:
        click.echo(printable(f"{done.path}: back in the inbox; the watcher or the next 'archive ingest' files it"))


@inbox_group.command("delete")
@click.argument("item_id", metavar="ID")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@inbox_option
@json_option
@common
@pass_cli
def inbox_delete(cli: CliContext, item_id, yes, inbox_dir, as_json) -> None:
    """Delete a quarantined file, its sidecar and its reason, for good."""
    session = cli.session()
    if not yes:
        item = next((r for r in quarantine.list_quarantine(session, inbox_dir) if r.id == item_id), None)
        shown = item.path if item is not None else item_id
        if not click.confirm(printable(f"delete {shown} from the quarantine for good?"), err=True):
            raise UsageError("nothing deleted", hint="answer y to delete, or pass --yes")
    done = quarantine.delete_quarantined(session, item_id, inbox_dir)
    if as_json:
        click.echo(json.dumps(done.to_dict(), ensure_ascii=False, indent=2, sort_keys=True))
    else:
        click.echo(printable(f"{done.path}: deleted" + (" with its sidecar" if done.sidecar else "")))


@inbox_group.command("status")
@json_option
@common
@pass_cli
def inbox_status(cli: CliContext, as_json) -> None:
    """Whether 'archive watch' runs, its last scan and what waits (from its status file)."""
    st = quarantine.watcher_status(cli.session())
    if as_json:
        click.echo(json.dumps(st.to_dict(), ensure_ascii=False, indent=2, sort_keys=True))
        return
    click.echo(f"watcher: {st.state}")
    if st.state == "never":
        click.echo("no status file: 'archive watch' has not run in this home")
        return
    for key in ("pid", "host", "user", "inbox"):
        click.echo(printable(f"{key}: {getattr(st, key)}"))
    for key in ("started", "last_scan", "updated", "stopped"):
        value = getattr(st, key)
        if value is not None:
            click.echo(f"{key.replace('_', ' ')}: {_utc(value)}")
    click.echo(f"waiting: {st.settling} settling, {st.filing} being filed, "
               f"{'?' if st.ocr is None else st.ocr} for OCR")
    if st.problem:
        click.echo(printable(f"problem: {st.problem}"))


def _utc(t: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
