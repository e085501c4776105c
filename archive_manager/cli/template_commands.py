"""``archive templates``: list the paperwork templates and check them (no sign-in needed)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import click

from archive_manager.cli.context import CliContext, emit, table
from archive_manager.cli.main import main, pass_cli
from archive_manager.cli.options import common, json_option
from archive_manager.errors import NotFound
from archive_manager.generation.catalog import check, load_catalog


@main.group()
def templates() -> None:
    """The Word templates of the standard paperwork."""


@templates.command("list")
@json_option
@common
@pass_cli
def templates_list(cli: CliContext, as_json) -> None:
    """Name, title, output document type and variables of each template."""
    catalog = load_catalog(cli.settings.templates_dir)
    rows = [{"name": s.name, "title": s.title, "file": s.file, "output_type": s.output_type,
             "variables": [{"name": v.name, "type": v.type, "source": v.source, "required": v.required,
                            **({"fields": dict(v.fields)} if v.fields else {})} for v in s.variables]}
            for s in catalog.values()]
    emit(rows, as_json, lambda rows: table(
        [{**r, "variables": ", ".join(v["name"] + ("" if v["required"] else "?") for v in r["variables"])}
         for r in rows],
        [("name", "NAME"), ("title", "TITLE"), ("output_type", "OUTPUT"), ("variables", "VARIABLES (? optional)")]))


@templates.command("check")
@click.argument("name", required=False)
@json_option
@common
@pass_cli
def templates_check(cli: CliContext, name, as_json) -> None:
    """Compare templates with the catalog and render each with sample values; exit 1 on problems."""
    folder = cli.settings.templates_dir
    catalog = load_catalog(folder)
    if name is not None and name not in catalog:
        raise NotFound(f"no template {name!r} in the catalog", hint="known: " + ", ".join(catalog))
    names = [name] if name else list(catalog)
    with tempfile.TemporaryDirectory() as scratch:
        results = {n: check(catalog[n], folder, Path(scratch)) for n in names}

    def show(results: dict) -> None:
        for n, problems in results.items():
            click.echo(f"{n}: ok" if not problems else "\n".join(f"PROBLEM {p}" for p in problems))

    emit(results, as_json, show)
    if any(results.values()):
        sys.exit(1)
