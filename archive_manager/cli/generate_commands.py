"""``archive generate``: paperwork from the templates, filed back into the dossier."""

from __future__ import annotations

from pathlib import Path

import click

from archive_manager.cli.context import CliContext, check_output, emit
from archive_manager.cli.main import main, pass_cli
from archive_manager.cli.options import common, force_option, json_option
from archive_manager.cli.pairs import parse_given
from archive_manager.errors import UsageError
from archive_manager.cli.lazy import lazy_module

generating = lazy_module("archive_manager.generating")
pdfs = lazy_module("archive_manager.generation.pdf")
values = lazy_module("archive_manager.generation.values")


@main.command("generate")
@click.argument("template")
@click.option("--client", help="Client code, e.g. C001.")
@click.option("--set", "pairs", multiple=True, metavar="NAME=VALUE", help="A value you give the template (repeatable); not one the archive derives.")
@click.option("--data", "data_file", type=click.Path(dir_okay=False, path_type=Path), help="Values as a JSON object.")
@click.option("--contract", metavar="DOC_ID", help="The contract (contract-amendment).")
@click.option("--level", type=click.IntRange(1, 3), help="Dunning level (default: from days overdue and earlier letters).")
@click.option("--overdue", is_flag=True, help="dunning-letter: one letter per client with overdue invoices "
              "(skips a client sent one at that level within [dunning] min_gap_days).")
@click.option("--min-days", type=click.IntRange(min=1), default=1, show_default=True,
              help="With --overdue: only clients at least this many days overdue.")
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Output file (with --overdue: a directory), never inside the archive home. "
                   "Default: a name in the current directory.")
@click.option("--no-file", "no_file", is_flag=True, help="Do not file the result into the dossier.")
@click.option("--pdf", is_flag=True, help="Also write a PDF beside each .docx (needs LibreOffice).")
@force_option
@json_option
@common
@pass_cli
def generate_cmd(cli: CliContext, template, client, pairs, data_file, contract, level, overdue, min_days, output,
                 no_file, pdf, force, as_json) -> None:
    """Generate paperwork from TEMPLATE ('archive templates list')."""
    given = values.check_given(parse_given(pairs, data_file))
    if overdue == (client is not None):
        raise UsageError("give either --client CODE or --overdue")
    if overdue and force:
        raise UsageError("--force is for one file; --overdue never replaces a letter",
                         hint="move the earlier letters away, or give another directory with -o")
    if output is not None:
        check_output(output, cli.settings, force, directory=overdue)
    if pdf:
        pdfs.require_soffice()  # before anything is written or filed
    session = cli.session()
    if overdue:
        if template != generating.DUNNING:
            raise UsageError("--overdue is for dunning-letter")
        folder = output or Path.cwd()
        if not folder.is_dir():
            raise UsageError(f"{folder} is not a directory", hint="with --overdue, -o names a directory")
        results = [r.to_dict() for r in generating.generate_overdue(session, folder, given, not no_file, level,
                                                                   min_days)]
    else:
        results = [generating.generate(session, template, client, given, output, not no_file, contract,
                                       level).to_dict()]
    written = [r for r in results if r["path"]]
    if pdf and written:  # one LibreOffice start for the whole batch
        for r, made in zip(written, pdfs.convert([Path(r["path"]) for r in written])):
            r["pdf"] = str(made)

    def show(rows: list[dict]) -> None:
        if not rows:
            click.echo("no client is overdue")
        for r in rows:
            if r.get("skipped"):
                click.echo(f"skipped {r['client']} (level {r['level']}): {r['skipped']}")
                continue
            filed = f"; filed as {r['doc_id']} v{r['version']}" if r["doc_id"] else ""
            lvl = f" (level {r['level']})" if r["level"] else ""
            extra = f" and {r['pdf']}" if r.get("pdf") else ""
            click.echo(f"wrote {r['path']}{extra}{lvl}{filed}")

    emit(results, as_json, show)
