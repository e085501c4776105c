"""``archive amendment``: contract amendments drafted by ``archive generate
contract-amendment``, approved or rejected by the policy's approving
department (legal), and the list of them."""

from __future__ import annotations

import click

from archive_manager.cli.context import CliContext, emit, note, table
from archive_manager.cli.lazy import lazy_module
from archive_manager.cli.main import main, pass_cli
from archive_manager.cli.options import common, json_option

amendments = lazy_module("archive_manager.amendments")

COLUMNS = [("doc_id", "DOC"), ("client", "CLIENT"), ("state", "STATE"), ("title", "TITLE"),
           ("drafted", "DRAFTED"), ("drafted_by", "BY"), ("decided", "DECIDED"),
           ("decided_by", "BY"), ("final_version", "FINAL")]

opinion_option = click.option("--opinion", required=True, help="The opinion's text (kept with the signed decision).")


@main.group("amendment")
def amendment_group() -> None:
    """Contract amendments: drafts, their approval or rejection."""


def _decided(r: dict) -> None:
    if r["final_version"] is not None:
        click.echo(f"{r['doc_id']}: approved; the final text is version {r['final_version']} "
                   f"(decision {r['signed']})")
    else:
        click.echo(f"{r['doc_id']}: rejected; it stays a draft (decision {r['signed']})")


@amendment_group.command("approve")
@click.argument("doc")
@opinion_option
@json_option
@common
@pass_cli
def amendment_approve(cli: CliContext, doc, opinion, as_json) -> None:
    """Approve the draft amendment DOC.

    Its final text, without the draft mark, is filed as its next version, and
    the decision is signed with your key over the draft's and the final's hashes."""
    r = amendments.approve_amendment(cli.session(), doc, opinion)
    emit(r.to_dict(), as_json, _decided)
    for warning in r.warnings:
        note("warning", warning)


@amendment_group.command("reject")
@click.argument("doc")
@opinion_option
@json_option
@common
@pass_cli
def amendment_reject(cli: CliContext, doc, opinion, as_json) -> None:
    """Reject the draft amendment DOC.

    The decision is signed with your key; the document stays a draft."""
    r = amendments.reject_amendment(cli.session(), doc, opinion)
    emit(r.to_dict(), as_json, _decided)


@amendment_group.command("list")
@click.option("--client", help="Only this client's amendments.")
@click.option("--pending", is_flag=True, help="Only the drafts waiting for a decision.")
@json_option
@common
@pass_cli
def amendment_list(cli: CliContext, client, pending, as_json) -> None:
    """Amendments drafted, the oldest first, with their state."""
    rows = [r.to_dict() for r in amendments.list_amendments(cli.session(), client, pending)]
    emit(rows, as_json, lambda rows: table(rows, COLUMNS))
