"""The receivables ledger of each client, kept in the client's credit slot
(sealed with the dossier's credit metadata, so only holders of the credit
class read it): ``archive ledger add / paid / list``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import Decimal

from archive_manager.errors import UsageError
from archive_manager.generation.ledger import Invoice, Ledger, Letter, Payment
from archive_manager.identifiers import check_date, parse_doc_id
from archive_manager.session import Session
from archive_manager.text import check_text
from archive_manager.results import Result

LEDGER_CLASS = "credit"


@dataclass(frozen=True)
class InvoiceEntry(Result):
    """An invoice as ``ledger list`` shows it on a given day: amounts as
    decimal text (yuan), dates as YYYY-MM-DD."""
    client: str
    invoice: str
    amount: str
    paid: str
    outstanding: str
    due: str
    contract: str | None  # the contract's document id
    days_overdue: int
    warnings: list[str] = field(default_factory=list)  # e.g. over the client's credit limit (when entered)

    def to_dict(self) -> dict:
        out = asdict(self)
        if not self.warnings:
            del out["warnings"]  # the JSON of ledger list as it was
        return out


def credit_limit(session: Session, client: str) -> Decimal | None:
    """The client's credit limit: the latest signed one, or for a client
    without signed decisions (added before issue 18) the profile's."""
    from archive_manager.policy import PROFILE_CLASS
    from archive_manager.standing import check_decisions

    directory = session.directory()
    entry = directory.client(client)
    slot = session.slot(directory, entry["dossier"], PROFILE_CLASS)
    standing = check_decisions(session, slot, code=client, entry=entry)
    if standing.recorded:
        value = standing.credit.limit  # signed, or none
    else:  # a client added before issue 18: its profile is all there is
        value = slot.meta.get("profile", {}).get("credit_limit") if slot is not None else None
    try:
        return Decimal(value) if value else None
    except ArithmeticError:
        return None


@dataclass(frozen=True)
class Exposure(Result):
    """A client's open receivables against its credit limit (yuan, as text)."""
    client: str
    open: str
    limit: str | None  # None: no limit set
    over: bool


def exposure(session: Session, client: str) -> Exposure:
    """What ``client`` owes now against its signed credit limit (the client
    page shows it to holders of the credit class). Recorded as a ledger read."""
    with session.recorded("ledger-list", client=client):
        session.require("read", LEDGER_CLASS)
        session.class_key(LEDGER_CLASS)
        total, limit = open_total(read_ledger(session, client)), credit_limit(session, client)
        return Exposure(client, f"{total:.2f}", f"{limit:.2f}" if limit is not None else None,
                        limit is not None and total > limit)


def open_total(ledger: Ledger) -> Decimal:
    return sum((i.outstanding for i in ledger.invoices.values()), Decimal(0))


def limit_warning(client: str, ledger: Ledger, limit: Decimal | None) -> str | None:
    total = open_total(ledger)
    if limit is None or total <= limit:
        return None
    return f"open receivables of {client} ({total:.2f}) exceed its credit limit ({limit:.2f})"


def ledger_to_dict(ledger: Ledger) -> dict:
    return {
        "invoices": {n: {"amount": str(i.amount), "due": i.due.isoformat(), "contract": i.contract,
                         "payments": [[str(p.amount), p.paid_on.isoformat()] for p in i.payments]}
                     for n, i in sorted(ledger.invoices.items())},
        "letters": [{"level": x.level, "sent_on": x.sent_on.isoformat(), "invoices": list(x.invoices)}
                    for x in ledger.letters],
    }


def ledger_from_dict(client: str, data: dict | None) -> Ledger:
    data = data or {}
    invoices = {
        n: Invoice(n, Decimal(i["amount"]), date.fromisoformat(i["due"]), i.get("contract"),
                   tuple(Payment(Decimal(a), date.fromisoformat(d)) for a, d in i.get("payments", [])))
        for n, i in data.get("invoices", {}).items()}
    letters = [Letter(x["level"], date.fromisoformat(x["sent_on"]), tuple(x["invoices"]))
               for x in data.get("letters", [])]
    return Ledger(client, invoices, letters)


def _today(session: Session) -> date:
    return session.runtime.now().date()


def read_ledger(session: Session, client: str) -> Ledger:
    """The ledger of ``client`` (empty if nothing was ever entered); the caller checks rights."""
    directory = session.directory()
    slot = session.slot(directory, directory.client(client)["dossier"], LEDGER_CLASS)
    return ledger_from_dict(client, slot.meta.get("ledger") if slot else None)


def _change(session: Session, client: str, change) -> Ledger:
    """Apply ``change(ledger)`` and seal the credit slot's metadata again, in one recorded commit."""
    with session.transaction() as tx:
        slot, created = session.slot_to_write(client, LEDGER_CLASS)
        ledger = ledger_from_dict(client, slot.meta.get("ledger"))
        change(ledger)
        slot.meta["ledger"] = ledger_to_dict(ledger)
        session.stage_slot(tx, slot, created)
    return ledger


def add_invoice(session: Session, client: str, number: str, amount: str, due: str,
                contract: str | None = None) -> InvoiceEntry:
    with session.recorded("ledger-add", client=client) as rec:
        rec.update(invoice=number, amount=amount, due=due, contract=contract)
        session.require("file", LEDGER_CLASS)
        check_text(number, "the invoice number")  # shown in ledger lists and dunning letters
        due_date = date.fromisoformat(check_date(due, None))
        if contract is not None and parse_doc_id(contract) != client:
            raise UsageError(f"contract {contract!r} does not belong to client {client!r}")
        ledger = _change(session, client, lambda led: led.add(number, amount, due_date, contract))
        warning = limit_warning(client, ledger, credit_limit(session, client)) \
            if session.policy.allows(session.departments, "read", "basic") else None
    row = invoice_row(client, ledger.get(number), _today(session))
    return row if warning is None else InvoiceEntry(**{**asdict(row), "warnings": [warning]})


def record_payment(session: Session, client: str, number: str, amount: str | None = None,
                   paid_on: str | None = None) -> InvoiceEntry:
    with session.recorded("ledger-paid", client=client) as rec:
        rec.update(invoice=number, amount=amount)
        session.require("file", LEDGER_CLASS)
        day = date.fromisoformat(check_date(paid_on, _today(session).isoformat()))
        ledger = _change(session, client, lambda led: led.pay(number, day, amount))
    return invoice_row(client, ledger.get(number), _today(session))


def list_invoices(session: Session, client: str | None = None, overdue: bool = False,
                  over_limit: bool = False) -> list[InvoiceEntry]:
    """Invoices (``overdue``: only those past due with money outstanding;
    ``over_limit``: only clients whose open receivables exceed their credit limit)."""
    with session.recorded("ledger-list", client=client):
        session.require("read", LEDGER_CLASS)
        session.class_key(LEDGER_CLASS)  # AccessDenied if granted but the key is not held
        today = _today(session)
        directory = session.directory()
        codes = [client] if client else sorted(directory.clients)
        rows = []
        for code in codes:
            ledger = read_ledger(session, code)
            if over_limit and limit_warning(code, ledger, credit_limit(session, code)) is None:
                continue
            invoices = ledger.overdue(today) if overdue else sorted(ledger.invoices.values(),
                                                                      key=lambda i: (i.due, i.number))
            rows += [invoice_row(code, i, today) for i in invoices]
    return rows


def invoice_row(client: str, invoice: Invoice, today: date) -> InvoiceEntry:
    return InvoiceEntry(client, invoice.number, str(invoice.amount), str(invoice.paid), str(invoice.outstanding),
                        invoice.due.isoformat(), invoice.contract, invoice.days_overdue(today))
