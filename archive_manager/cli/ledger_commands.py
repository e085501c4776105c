"""``archive ledger``: the receivables of each client (credit class)."""

from __future__ import annotations

import click

from archive_manager.cli.context import CliContext, emit, note, table
from archive_manager.cli.main import main, pass_cli
from archive_manager.cli.lazy import lazy_module
from archive_manager.cli.options import common, json_option

receivables = lazy_module("archive_manager.receivables")

COLUMNS = [("client", "CLIENT"), ("invoice", "INVOICE"), ("amount", "AMOUNT"), ("paid", "PAID"),
           ("outstanding", "OUTSTANDING"), ("due", "DUE"), ("days_overdue", "DAYS OVERDUE"), ("contract", "CONTRACT")]


@main.group()
def ledger() -> None:
    """Receivables: invoices, payments, what is overdue."""


@ledger.command("add")
@click.argument("client")
@click.option("--invoice", required=True, help="Invoice number, e.g. INV-0042.")
@click.option("--amount", required=True, help="Amount in yuan, e.g. 128000.00.")
@click.option("--due", required=True, help="Due date, YYYY-MM-DD.")
@click.option("--contract", metavar="DOC_ID", help="The contract the invoice belongs to.")
@json_option
@common
@pass_cli
def ledger_add(cli: CliContext, client, invoice, amount, due, contract, as_json) -> None:
    """Enter an invoice into a client's ledger."""
    r = receivables.add_invoice(cli.session(), client, invoice, amount, due, contract)
    emit(r.to_dict(), as_json, lambda r: click.echo(f"{r['client']} {r['invoice']}: {r['amount']} due {r['due']}"))
    for warning in r.warnings:
        note("warning", warning)


@ledger.command("paid")
@click.argument("client")
@click.argument("invoice")
@click.option("--amount", help="A partial payment (default: all that is outstanding).")
@click.option("--date", "paid_on", help="Payment date, YYYY-MM-DD (default: today).")
@json_option
@common
@pass_cli
def ledger_paid(cli: CliContext, client, invoice, amount, paid_on, as_json) -> None:
    """Record a payment of an invoice."""
    r = receivables.record_payment(cli.session(), client, invoice, amount, paid_on)
    emit(r.to_dict(), as_json, lambda r: click.echo(f"{r['client']} {r['invoice']}: paid {r['paid']}, "
                                          f"outstanding {r['outstanding']}"))


@ledger.command("list")
@click.argument("client", required=False)
@click.option("--overdue", is_flag=True, help="Only invoices past due with money outstanding.")
@click.option("--over-limit", is_flag=True, help="Only clients whose open receivables exceed their credit limit.")
@json_option
@common
@pass_cli
def ledger_list(cli: CliContext, client, overdue, over_limit, as_json) -> None:
    """List invoices (days overdue as of today)."""
    rows = receivables.list_invoices(cli.session(), client, overdue, over_limit)
    emit([r.to_dict() for r in rows], as_json, lambda rows: table(rows, COLUMNS))
