"""``archive admission``: applications and their review; and ``archive client
status / reassess / due``: a client's standing."""

from __future__ import annotations

from pathlib import Path

import click

from archive_manager.cli import pairs
from archive_manager.cli.admin_commands import client
from archive_manager.cli.context import CliContext, emit, table
from archive_manager.cli.lazy import lazy_module
from archive_manager.cli.main import main, pass_cli
from archive_manager.cli.options import common, json_option
from archive_manager.errors import UsageError
from archive_manager.text import printable_nested

admission = lazy_module("archive_manager.admission")
standing = lazy_module("archive_manager.standing")

QUEUE = [("application", "APPLICATION"), ("client", "CLIENT"), ("name", "NAME"), ("state", "STATE"),
         ("waiting", "STEP"), ("waiting_department", "WAITS FOR"), ("applicant", "APPLICANT"),
         ("age_days", "AGE (DAYS)")]
DUE = [("client", "CLIENT"), ("name", "NAME"), ("status", "STATUS"), ("rating", "RATING"), ("limit", "LIMIT"),
       ("assessed", "ASSESSED"), ("due", "DUE"), ("days_overdue", "DAYS OVERDUE")]


def _attachments(files: tuple[str, ...], types: tuple[str, ...]) -> list:
    if len(files) != len(types):
        raise UsageError("every --attach needs its --type, in the same order",
                         hint="e.g. --attach 营业执照.pdf --type business-license")
    out = []
    for name, doc_type in zip(files, types):
        path = Path(name)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read {name}: {(exc.strerror or str(exc)).lower()}") from None
        out.append(admission.Attachment(path.name, data, doc_type))
    return out


attach_option = click.option("--attach", "files", multiple=True, metavar="FILE",
                             help="A document to attach (repeatable; each with a --type).")
type_option = click.option("--type", "types", multiple=True, metavar="TYPE",
                           help="The document type of the --attach in the same place.")


@main.group("admission")
def admission_group() -> None:
    """Client admission: applications, reviews step by step, the queue."""


@admission_group.command("start")
@click.option("--name", required=True, help="The client's name.")
@click.option("--code", help="The client code to give it (default: the next free C###).")
@click.option("--set", "fields", multiple=True, metavar="KEY=VALUE",
              help="legal_rep, address, contact, phone, email, credit_code, business_scope, needs, budget, channels.")
@attach_option
@type_option
@json_option
@common
@pass_cli
def admission_start(cli: CliContext, name, code, fields, files, types, as_json) -> None:
    """Start an application for a prospective client; prints its id."""
    r = admission.start_application(cli.session(), name, pairs.parse_fields(fields), _attachments(files, types),
                                    code=code)
    emit(r.to_dict(), as_json, lambda r: click.echo(
        f"{r['application']}  client {r['client']} {r['name']}: waits for {r['waiting']}"))


@admission_group.command("show")
@click.argument("application")
@json_option
@common
@pass_cli
def admission_show(cli: CliContext, application, as_json) -> None:
    """Show an application: its fields, attachments and every decision."""
    r = admission.show_application(cli.session(), application)
    if as_json:
        emit(r.to_dict(), True, print)
    else:
        _print_application(r.to_dict())


def _print_application(r: dict) -> None:
    """The application as text, every value made printable line by line."""
    from archive_manager.text import printable

    opinions = {h["n"]: h["opinion"] for h in r["history"]}
    requests = {h["n"]: h["request"] for h in r["history"]}
    r = printable_nested(r)
    waiting = f", waits for {r['waiting']} ({r['waiting_department']})" if r["waiting"] else ""
    click.echo(f"{r['application']}  client {r['client']} {r['name']}: {r['state']}{waiting}")
    for key, value in r["fields"].items():
        click.echo(f"  {key}: {value}")
    for a in r["attachments"]:
        click.echo(f"  attachment {a['doc_id']} {a['doc_type']} {a['name']}")
    for h in r["history"]:
        what = f"{h['step']} {h['decision']}" if h["kind"] == "review" else h["kind"]
        click.echo(f"  {h['n']}. {h['time']} {h['user']} ({h['department']}): {what}")
        opinion = opinions[int(h["n"])] or requests[int(h["n"])]
        if opinion:
            for line in opinion.splitlines():
                click.echo(f"       {printable(line)}")
        elif h["opinion_doc"]:
            click.echo(f"       opinion {h['opinion_doc']} (class {h['opinion_class']}, not held)")
    if r["actions"]:
        click.echo(f"  you may: {', '.join(r['actions'])}")


@admission_group.command("review")
@click.argument("application")
@click.option("--approve", "decision", flag_value="approve", help="Approve this step.")
@click.option("--return", "decision", flag_value="return", help="Return it to the applicant for more information.")
@click.option("--reject", "decision", flag_value="reject", help="Reject it (closed, kept).")
@click.option("--opinion", required=True, help="The opinion's text.")
@click.option("--set", "values", multiple=True, metavar="KEY=VALUE",
              help="What the step sets on approval, e.g. rating=A credit_limit=500000.")
@attach_option
@type_option
@json_option
@common
@pass_cli
def admission_review(cli: CliContext, application, decision, opinion, values, files, types, as_json) -> None:
    """Act on the step an application waits for, as its department."""
    if decision is None:
        raise UsageError("say what you decide", hint="--approve, --return or --reject")
    r = admission.review_application(cli.session(), application, decision, opinion, pairs.parse_fields(values),
                                     _attachments(files, types))
    emit(r.to_dict(), as_json, lambda r: click.echo(
        f"{r['application']} {r['step']}: {r['decision']}; now {r['state']}"
        + (", waits for the applicant" if r["state"] == "returned" else
           f", waits for {r['waiting']}" if r["waiting"] else "")
        + (f"; client {r['client']} admitted, admission form {r['admission_form']}" if r["admission_form"] else "")))


@admission_group.command("resubmit")
@click.argument("application")
@click.option("--set", "fields", multiple=True, metavar="KEY=VALUE", help="A changed or added field.")
@click.option("--note", help="What was added, for the reviewer.")
@attach_option
@type_option
@json_option
@common
@pass_cli
def admission_resubmit(cli: CliContext, application, fields, note, files, types, as_json) -> None:
    """Submit a returned application again; it goes back to the step that returned it."""
    r = admission.resubmit_application(cli.session(), application, pairs.parse_fields(fields),
                                       _attachments(files, types), note)
    emit(r.to_dict(), as_json, lambda r: click.echo(f"{r['application']} submitted again: waits for {r['waiting']}"))


@admission_group.command("list")
@click.option("--mine", is_flag=True, help="Only what waits for your departments.")
@click.option("--all", "closed", is_flag=True, help="Also admitted and rejected applications.")
@json_option
@common
@pass_cli
def admission_list(cli: CliContext, mine, closed, as_json) -> None:
    """Applications, the oldest first, with how long each has waited."""
    rows = [r.to_dict() for r in admission.list_applications(cli.session(), mine=mine, closed=closed)]
    emit(rows, as_json, lambda rows: table(rows, QUEUE))


@client.command("status")
@click.argument("code")
@click.argument("status", type=click.Choice(["admitted", "suspended", "terminated"]))
@click.option("--reason", required=True, help="Why (kept with the signed decision).")
@json_option
@common
@pass_cli
def client_status(cli: CliContext, code, status, reason, as_json) -> None:
    """Suspend, reinstate (admitted) or terminate a client."""
    r = standing.change_status(cli.session(), code, status, reason)
    emit(r.to_dict(), as_json, lambda r: click.echo(f"client {r['client']} {r['name']}: {r['previous']} -> "
                                                    f"{r['status']}"))


@client.command("reassess")
@click.argument("code")
@click.option("--rating", required=True, help="The credit rating (profile.toml's choices).")
@click.option("--limit", required=True, help="The credit limit in yuan.")
@click.option("--terms", help="Payment terms.")
@click.option("--opinion", required=True, help="The assessment's text.")
@json_option
@common
@pass_cli
def client_reassess(cli: CliContext, code, rating, limit, terms, opinion, as_json) -> None:
    """Re-assess a client's credit (the credit department)."""
    r = standing.reassess_credit(cli.session(), code, rating, limit, opinion, terms)
    emit(r.to_dict(), as_json, lambda r: click.echo(
        f"client {r['client']} {r['name']}: rating {r['previous_rating'] or '-'} -> {r['rating']}, "
        f"limit {r['previous_limit'] or '-'} -> {r['limit']}"))


@client.command("due")
@json_option
@common
@pass_cli
def client_due(cli: CliContext, as_json) -> None:
    """Clients whose credit re-assessment is due or overdue."""
    rows = [r.to_dict() for r in standing.due_reassessments(cli.session())]
    emit(rows, as_json, lambda rows: table(rows, DUE))
