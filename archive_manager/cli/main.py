"""The ``archive`` group, its error handling, and the document commands."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from archive_manager import __version__
from archive_manager.cli.context import CliContext, check_output, echo_error, emit, fail, new_passphrase, note, table
from archive_manager.cli.options import common, force_option, json_option
from archive_manager.errors import ArchiveError, UsageError
from archive_manager.process import protect_key_memory
from archive_manager.cli.lazy import lazy_module
from archive_manager.text import printable

documents = lazy_module("archive_manager.documents")
filing = lazy_module("archive_manager.filing")
reading = lazy_module("archive_manager.reading")
reindexing = lazy_module("archive_manager.reindexing")
searching = lazy_module("archive_manager.searching")
verifying = lazy_module("archive_manager.verify")
inbox = lazy_module("archive_manager.ingest.inbox")
DEFAULT_LIMIT = 10  # searching.DEFAULT_LIMIT, without loading the search code for every command's --help

EXIT_CODES_HELP = """Exit codes: 0 ok, 1 failure or problems found by verify, 2 bad input,
3 authentication or access denied, 4 not found, 5 integrity failure (tampering),
6 invalid policy, 7 conflict with existing state."""
EXIT_BROKEN_PIPE = 128 + 13  # what the shell reports for a program stopped by SIGPIPE


class ArchiveGroup(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            try:
                return super().invoke(ctx)
            finally:
                sys.stdout.flush()  # a reader that went away shows here, not in the interpreter's last flush
        except BrokenPipeError:
            reader_gone()
        except ArchiveError as exc:
            fail(exc)
        except OSError as exc:
            where = f": {exc.filename}" if exc.filename else ""
            fail(ArchiveError(f"{(exc.strerror or str(exc)).lower()}{where}"))
        except KeyboardInterrupt:
            fail(ArchiveError("interrupted; nothing half-written was kept"))
        finally:
            cli = ctx.find_object(CliContext)
            if cli is not None and cli._home is not None:
                cli._home.close()  # stops the text-extraction worker


class ProgressBar:
    """A progress bar on stderr that starts once the total is known (and only
    if there is something to show, on a terminal: in a log or a pipe it would
    be a stray line of its label)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._bar = None

    def start(self, total: int) -> None:
        if total and sys.stderr.isatty():
            self._bar = click.progressbar(length=total, label=self.label, file=sys.stderr, show_pos=True)
            self._bar.__enter__()

    def update(self, n: int) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)


def reader_gone() -> None:
    """Whoever read stdout stopped (``archive ls | head -1``): end quietly, with
    no message, as a program stopped by SIGPIPE does (exit status 141). Stdout
    goes to /dev/null first, so the interpreter's last flush cannot fail again
    (the recipe in Python's ``signal`` documentation)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout is no file descriptor (CliRunner)
        pass
    sys.exit(EXIT_BROKEN_PIPE)


@click.group(cls=ArchiveGroup, epilog=EXIT_CODES_HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="archive")
@common
@click.pass_context
def main(ctx: click.Context) -> None:
    """Encrypted archive of client dossiers (客户档案)."""
    # before anything is read or written: every file and directory the
    # command creates is its user's alone (0600, 0700), and the keys it will
    # hold never reach a core file or another process of the same user
    os.umask(0o077)
    protect_key_memory()
    ctx.ensure_object(CliContext)


pass_cli = click.make_pass_decorator(CliContext, ensure=True)


@main.command()
@click.option("--admin", required=True, help="Name of the first admin (archive department).")
@json_option
@common
@pass_cli
def init(cli: CliContext, admin: str, as_json: bool) -> None:
    """Create a new archive in the home directory."""
    cli.home.ensure_new()
    cli.warn_cheap_kdf()
    passphrase = cli.passphrase(confirm=True, prompt=f"New passphrase for {admin}")
    result = cli.home.init(admin, passphrase)
    emit(result.to_dict(), as_json, lambda r: click.echo(
        f"created archive {r['vault_id']} in {r['home']}; admin: {r['admin']}\n"
        f"root fingerprint: {r['fingerprint']}\n"
        "keep it: users and auditors compare it when asked to confirm this archive's root of trust"))


@main.command()
@json_option
@common
@pass_cli
def whoami(cli: CliContext, as_json: bool) -> None:
    """Show the signed-in user, departments, actions and readable classes."""
    from archive_manager.clients import whoami as who

    r = who(cli.session())
    emit(r.to_dict(), as_json, lambda r: click.echo(
        f"{r['user']} ({', '.join(r['departments'])})\nactions: {', '.join(r['actions'])}\n"
        f"classes: {', '.join(r['classes']) or '-'}\nkey fingerprint: {r['fingerprint']}"))


@main.command("file")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--client", required=True, help="Client code, e.g. C001.")
@click.option("--type", "doc_type", required=True, help="Document type, e.g. contract.")
@click.option("--title", help="Title (default: the file name without extension).")
@click.option("--date", help="Document date, YYYY-MM-DD (default: today).")
@click.option("--replaces", metavar="DOC_ID", help="File as a new version of this document.")
@click.option("--number", help="The document's number, e.g. a contract's HT-2026-088 (a new version's replaces "
                               "it; without one a new version keeps it).")
@json_option
@common
@pass_cli
def file_cmd(cli: CliContext, paths, client, doc_type, title, date, replaces, number, as_json) -> None:
    """File documents into a client's dossier."""
    if len(paths) > 1 and (title or replaces or number is not None):
        raise UsageError("--title, --number and --replaces take a single file")
    session = cli.session()
    results, errors = [], []
    for path in paths:
        try:
            filed = filing.file_document(session, path, client, doc_type, title, date, replaces, number)
            results.append(filed.to_dict())
            if filed.text_reason and not filed.duplicate:
                note("note", f"{inbox.shown(str(path))}: filed without searchable text: {filed.text_reason}")
            for warning in filed.warnings:
                note("warning", warning)
        except ArchiveError as exc:
            errors.append(exc)
            echo_error(exc, inbox.shown(str(path)))

    def text(rows):
        for r in rows:
            state = f"duplicate of {r['doc_id']} v{r['version']}" if r["duplicate"] else f"{r['doc_id']} v{r['version']}"
            click.echo(f"{r['path']}: {state}")

    emit(results, as_json, text)
    if errors:
        sys.exit(max(e.exit_code for e in errors))


@main.command("ls")
@click.option("--client", help="Only this client.")
@click.option("--type", "doc_type", help="Only this document type.")
@json_option
@common
@pass_cli
def ls_cmd(cli: CliContext, client, doc_type, as_json) -> None:
    """List the newest version of every document you may read."""
    rows = reading.list_documents(cli.session(), client, doc_type)
    emit([r.to_dict() for r in rows], as_json, lambda shown: table([
        {**r, "text": row.text_label} for r, row in zip(shown, rows)], [
        ("doc_id", "DOC_ID"), ("client", "CLIENT"), ("type", "TYPE"), ("date", "DATE"),
        ("version", "V"), ("title", "TITLE"), ("text", "TEXT")]))


@main.command("search", context_settings={"ignore_unknown_options": True})
@click.argument("query", nargs=-1)
@click.option("--client", help="Only this client's documents.")
@click.option("--type", "doc_type", help="Only this document type.")
@click.option("--since", help="Only documents dated on or after YYYY-MM-DD.")
@click.option("--until", help="Only documents dated on or before YYYY-MM-DD.")
@click.option("--limit", type=click.IntRange(min=1, max=1000), default=DEFAULT_LIMIT, show_default=True,
              help="How many hits to show.")
@json_option
@common
@pass_cli
def search_cmd(cli: CliContext, query, client, doc_type, since, until, limit, as_json) -> None:
    """Search the documents you may see.

    Words (documents with all of them first), "quoted phrases", AND, OR, NOT,
    -word, parentheses, and the filters client:CODE type:TYPE title:WORD.
    Matches in snippets are marked **like this**; a snippet OCR read from a
    scan ends with [OCR 0.99], its confidence. Without words, --client,
    --type, --since and --until list the documents they select, newest first.
    """
    if not query and not (client or doc_type or since or until):
        raise UsageError("give words to search for, or --client/--type/--since to list documents",
                         hint="e.g. archive search 合同, or archive search --type contract")
    result = searching.search(cli.session(), " ".join(query), client, doc_type, since, limit, until=until)

    def text(r: dict) -> None:
        if not r["hits"]:
            click.echo("no documents found")
            return
        for h in r["hits"]:
            click.echo(f"{h['doc_id']}  {h['client']}  {h['type']}  {h['date']}  {h['title']}  ({h['score']:.2f})")
            click.echo(f"    {h['snippet']}" + (f"   [OCR {h['ocr']:.2f}]" if h.get("ocr") is not None else ""))
        more = r["total"] - len(r["hits"])
        if r["total_exact"]:
            click.echo(f"{r['total']} found" + (f"; {more} more with --limit" if more > 0 else ""))
        else:  # counting stopped early
            click.echo(f"at least {r['total']} found; more with --limit")

    emit(result.to_dict(), as_json, text)


@main.command("reindex")
@click.option("--if-needed", is_flag=True, help="Only rebuild or catch up indexes that are out of date.")
@json_option
@common
@pass_cli
def reindex_cmd(cli: CliContext, if_needed, as_json) -> None:
    """Rebuild the search indexes of the classes you may read from the vault."""
    session = cli.session()
    with ProgressBar("reindexing") as bar:
        reports = [r.to_dict() for r in reindexing.reindex(session, if_needed, progress=bar.update,
                                                           total=bar.start)]

    def text(rows: list[dict]) -> None:
        for r in rows:
            if r["action"] == "current":
                click.echo(f"{r['class']}: current")
            else:
                extra = f", {r['without_text']} without text" if r["without_text"] else ""
                click.echo(f"{r['class']}: {r['action']} ({r['reason']}; {r['documents']} "
                           f"document{'' if r['documents'] == 1 else 's'}{extra})")

    emit(reports, as_json, text)


@main.command("get")
@click.argument("doc_id")
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Write to FILE (default: stdout): not an existing file unless --force, "
                   "never into the archive home.")
@click.option("--version", "version", type=click.IntRange(min=1), help="An older version.")
@force_option
@json_option
@common
@pass_cli
def get_cmd(cli: CliContext, doc_id, output, version, force, as_json) -> None:
    """Write a document's original bytes, exactly."""
    if as_json and output is None:
        raise UsageError("--json needs -o FILE (the document itself goes to stdout otherwise)")
    if output is not None:
        check_output(output, cli.settings, force)
    session = cli.session()
    if output is None:
        reading.read_document(session, doc_id, sys.stdout.buffer, version)
        return
    info = reading.export_to_path(session, doc_id, output, version)
    where = printable(str(output))
    emit(info.to_dict(), as_json, lambda i: click.echo(
        f"wrote {where} ({i['size']} bytes, {i['doc_id']} v{i['version']}, sha256 {i['sha256'][:16]}…)", err=True))


@main.group("doc")
def doc_group() -> None:
    """Look at a document's metadata and correct it."""


@doc_group.command("show")
@click.argument("doc_id")
@click.option("--history", is_flag=True, help="Also show every earlier title, number and date (who, when).")
@json_option
@common
@pass_cli
def doc_show(cli: CliContext, doc_id, history, as_json) -> None:
    """Show a document's title, number, date and versions."""
    r = documents.show_document(cli.session(), doc_id, history=history)

    def text(r):
        click.echo(f"{r['doc_id']}  {r['client']}  {r['type']} (class {r['class']})")
        for key in ("title", "number", "date"):
            click.echo(f"  {key}: {r[key] if r[key] is not None else '-'}")
        click.echo(f"  file: {r['original_name']}")
        click.echo(f"  text: {printable(reading.text_label(r['text'], r['text_reason'], r.get('ocr'), r.get('confidence')))}")
        click.echo("versions:")
        for v in r["versions"]:
            click.echo(f"  v{v['version']}  {v['date']}  {v['original_name']}  {v['size']} bytes  "
                       f"filed {v['filed_at']} by {v['filed_by']}")
        if history:
            click.echo("history:")
            width = max((len(h["by"]) for h in r["history"]), default=0)
            for h in r["history"]:
                click.echo(f"  {h['time']}  {h['by']:<{width}}  v{h['version']}  {_change(h)}")
            if not r["history"]:
                click.echo("  (none)")

    emit(r.to_dict(), as_json, text)


@doc_group.command("edit")
@click.argument("doc_id")
@click.option("--number", help="The document's number, e.g. HT-2026-088 (\"\" removes it).")
@click.option("--title", help="The document's title.")
@click.option("--date", help="The date of its newest version, YYYY-MM-DD.")
@json_option
@common
@pass_cli
def doc_edit(cli: CliContext, doc_id, number, title, date, as_json) -> None:
    """Correct a document's number, title or date.

    The change is recorded metadata, kept with the earlier values (doc show
    --history): no new version, the stored file is unchanged. Whoever may
    file documents of its class may do it."""
    r = documents.edit_document(cli.session(), doc_id, title=title, number=number, date=date).to_dict()

    def text(r):
        if not r["changes"]:
            click.echo(f"nothing changed: {r['doc_id']} already holds these values")
            return
        click.echo(f"edited {r['doc_id']} (version {r['document']['version']}; the stored file is unchanged)")
        for c in r["changes"]:
            click.echo(f"  {_change(c)}")

    emit(r, as_json, text)
    for warning in r["warnings"]:
        note("warning", warning)


def _change(c: dict) -> str:
    return f"{c['field']}: {c['old'] if c['old'] is not None else '-'} → {c['new'] if c['new'] is not None else '-'}"


@main.command("verify")
@json_option
@common
@pass_cli
def verify_cmd(cli: CliContext, as_json) -> None:
    """Authenticate every stored byte you may read; exit 1 if anything is wrong."""
    report = verifying.verify_vault(cli.session())

    def text(r):
        c = r["checked"]
        click.echo(f"checked {c['clients']} clients, {c['slots']} class slots, {c['documents']} documents, "
                   f"{c['versions']} versions, {c['bytes']} bytes; classes: {', '.join(r['classes'])}")
        if r["not_checked"]:
            click.echo(f"not checked (no key): {', '.join(r['not_checked'])}")
        for note in r["notes"]:
            click.echo(f"note: {note}")
        for p in r["problems"]:
            ident = f"{p['doc_id']} v{p['version']}" if p["doc_id"] else p["where"]
            click.echo(f"PROBLEM {ident}: {p['problem']}")
        click.echo("ok" if r["ok"] else f"{len(r['problems'])} problem(s) found")

    emit(report.to_dict(), as_json, text)
    if not report.ok:
        sys.exit(1)


from archive_manager.cli import (  # noqa: E402,F401  (register the groups)
    admin_commands, admission_commands, amendment_commands, audit_commands, generate_commands, inbox_commands,
    ledger_commands, server_commands, template_commands)

__all__ = ["main", "new_passphrase"]
