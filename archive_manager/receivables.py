"""The receivables ledger of each client, kept in the client's credit slot
(sealed with the dossier's credit metadata, so only holders of the credit
class read it): ``archive ledger add / paid / list``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from archive_manager.errors import UsageError
from archive_manager.generation.ledger import DunningPolicy, Invoice, Ledger, Letter, Payment
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
                contract: str | None = None, readable_contract: bool = False) -> InvoiceEntry:
    """Enter an invoice; with ``readable_contract`` the contract it names must
    be one of :func:`contract_choices` (a contract of the client the user may read)."""
    with session.recorded("ledger-add", client=client) as rec:
        rec.update(invoice=number, amount=amount, due=due, contract=contract)
        session.require("file", LEDGER_CLASS)
        check_text(number, "the invoice number")  # shown in ledger lists and dunning letters
        due_date = date.fromisoformat(check_date(due, None))
        if contract is not None and parse_doc_id(contract) != client:
            raise UsageError(f"contract {contract!r} does not belong to client {client!r}")
        if contract is not None and readable_contract and contract not in dict(contract_choices(session, client)):
            raise UsageError(f"{contract!r} is not a contract of client {client!r} you may read")
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


# --- the ledger as the receivables pages show it (issue 19) ------------------------------------------------

ZERO = Decimal("0.00")
AGES = ("current", "days_1_30", "days_31_60", "days_61_90", "over_90")  # AgeBuckets' fields, youngest first


def _plain(value):
    """``value`` for JSON: amounts as text with two decimals, results and lists inside too."""
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class _Amounts(Result):
    def to_dict(self) -> dict:
        return _plain(asdict(self))  # type: ignore[call-overload]


@dataclass(frozen=True)
class AgeBuckets(_Amounts):
    """Open receivables on a day by how long they are overdue (yuan): not
    yet due, 1–30, 31–60, 61–90 and more than 90 days."""
    current: Decimal = ZERO
    days_1_30: Decimal = ZERO
    days_31_60: Decimal = ZERO
    days_61_90: Decimal = ZERO
    over_90: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return sum(self.values(), ZERO)

    def values(self) -> list[Decimal]:
        return [getattr(self, name) for name in AGES]

    def __add__(self, other: "AgeBuckets") -> "AgeBuckets":
        return AgeBuckets(*(a + b for a, b in zip(self.values(), other.values())))

    def to_dict(self) -> dict:
        return {**super().to_dict(), "total": f"{self.total:.2f}"}


def age_of(days_overdue: int) -> str:
    """The bucket (an :data:`AGES` name) of an invoice ``days_overdue``."""
    if days_overdue <= 0:
        return "current"
    return "days_1_30" if days_overdue <= 30 else "days_31_60" if days_overdue <= 60 else \
        "days_61_90" if days_overdue <= 90 else "over_90"


def age_buckets(ledger: Ledger, today: date) -> AgeBuckets:
    """What ``ledger`` has outstanding on ``today``, by age: the buckets sum to :func:`open_total`."""
    sums = dict.fromkeys(AGES, ZERO)
    for invoice in ledger.invoices.values():
        sums[age_of(invoice.days_overdue(today))] += invoice.outstanding
    return AgeBuckets(**sums)


@dataclass(frozen=True)
class PaymentEntry(_Amounts):
    amount: Decimal
    paid_on: str


@dataclass(frozen=True)
class LetterEntry(Result):
    """A dunning letter sent: its ``level`` (None: filed by hand, no level on
    record), day, the invoices it named, and the filed letter (None if it was
    not filed)."""
    level: int | None
    sent_on: str
    invoices: list[str]
    doc_id: str | None


@dataclass(frozen=True)
class LedgerRow(_Amounts):
    """An invoice on the ledger pages: its payments, what is outstanding,
    days overdue and the highest dunning level a letter naming it reached."""
    client: str
    invoice: str
    amount: Decimal
    paid: Decimal
    outstanding: Decimal
    due: str
    contract: str | None
    days_overdue: int
    age: str  # an AGES name
    level: int | None
    payments: list[PaymentEntry]


@dataclass(frozen=True)
class ClientLedger(_Amounts):
    """One client's ledger on ``today``: invoices (due first), letters sent
    (oldest first), the open and overdue totals, the credit limit when the
    user may read it (``limit_known``), the dunning level due, the ages."""
    client: str
    name: str
    today: str
    invoices: list[LedgerRow]
    letters: list[LetterEntry]
    open: Decimal
    overdue: Decimal
    limit: Decimal | None
    limit_known: bool
    over: bool
    level_due: int | None
    ages: AgeBuckets
    contracts: list[tuple[str, str]]  # (document id, number or title) of contracts the user may read


@dataclass(frozen=True)
class LedgerSummary(_Amounts):
    """A client's line in the overview of every ledger."""
    client: str
    name: str
    invoices: int
    open: Decimal
    overdue: Decimal
    days_overdue: int  # the oldest overdue invoice's
    limit: Decimal | None
    limit_known: bool
    over: bool
    level_due: int | None
    ages: AgeBuckets


@dataclass(frozen=True)
class LedgerOverview(_Amounts):
    """Every client with an invoice: a summary each, all the invoices (most
    overdue first), the ages of all that is open, and every client's name
    (to open one whose ledger is still empty)."""
    today: str
    clients: list[LedgerSummary]
    invoices: list[LedgerRow]
    ages: AgeBuckets
    names: dict[str, str]


def _letters(session: Session, ledger: Ledger) -> list[LetterEntry]:
    """The ledger's letters, each with the letter filed for it (a dunning
    letter of the same day naming the same invoices), and the dunning letters
    filed by hand (no level on record), oldest first."""
    from archive_manager.generating import DUNNING

    directory = session.directory()
    slot = session.slot(directory, directory.client(ledger.client)["dossier"], LEDGER_CLASS)
    filed: dict[tuple[str, frozenset], list[str]] = {}
    for doc_id, doc in sorted(slot.documents.items() if slot is not None else ()):
        latest = doc["versions"][-1]
        if latest.get("type", doc.get("type")) == DUNNING:
            named = frozenset(d.split(":", 1)[1] for d in latest.get("derived_from", []) if d.startswith("invoice:"))
            filed.setdefault((latest["date"], named), []).append(doc_id)
    out = []
    for letter in ledger.letters:
        docs = filed.get((letter.sent_on.isoformat(), frozenset(letter.invoices)), [])
        out.append(LetterEntry(letter.level, letter.sent_on.isoformat(), list(letter.invoices),
                               docs.pop(0) if docs else None))
    out += [LetterEntry(None, day, sorted(named), doc_id) for (day, named), docs in filed.items() for doc_id in docs]
    return sorted(out, key=lambda x: (x.sent_on, x.level or 0))


def _rows(ledger: Ledger, today: date) -> list[LedgerRow]:
    levels: dict[str, int] = {}
    for letter in ledger.letters:
        for number in letter.invoices:
            levels[number] = max(levels.get(number, 0), letter.level)
    return [LedgerRow(ledger.client, i.number, i.amount, i.paid, i.outstanding, i.due.isoformat(), i.contract,
                      i.days_overdue(today), age_of(i.days_overdue(today)) if i.outstanding > 0 else "paid",
                      levels.get(i.number), [PaymentEntry(p.amount, p.paid_on.isoformat()) for p in i.payments])
            for i in sorted(ledger.invoices.values(), key=lambda i: (i.due, i.number))]


def dunning_policy(session: Session) -> DunningPolicy:
    """The archive's dunning thresholds and gap (``[dunning]`` in its settings)."""
    return DunningPolicy(session.settings.dunning_thresholds, session.settings.dunning_gap_days)


def _limit(session: Session, client: str) -> tuple[Decimal | None, bool]:
    """(credit limit, known): the limit is read only by a user who may read the client's basic class."""
    if not session.policy.allows(session.departments, "read", "basic"):
        return None, False
    return credit_limit(session, client), True


def client_names(session: Session, codes) -> dict[str, str]:
    """The names of the clients ``codes`` (for a list that names them by code)."""
    directory = session.directory()
    return {code: directory.client(code)["name"] for code in sorted(codes)}


def contract_choices(session: Session, client: str) -> list[tuple[str, str]]:
    """The contracts of ``client`` the user may read, as (document id, its
    number or else its title), for an invoice to name; none without the class."""
    from archive_manager.generating import SOURCE_CLASSES, contract_number

    cls = SOURCE_CLASSES["contract"]
    if cls not in session.classes_for("read"):
        return []
    directory = session.directory()
    slot = session.slot(directory, directory.client(client)["dossier"], cls)
    docs = slot.documents if slot is not None else {}
    return [(d, contract_number(doc) or doc.get("title") or d) for d, doc in sorted(docs.items())
            if doc["versions"][-1].get("type", doc.get("type")) == "contract"]


def client_ledger(session: Session, client: str) -> ClientLedger:
    """``client``'s ledger as its page shows it, recorded as a ledger read."""
    with session.recorded("ledger-list", client=client):
        session.require("read", LEDGER_CLASS)
        session.class_key(LEDGER_CLASS)
        today = _today(session)
        name = session.directory().client(client)["name"]
        ledger = read_ledger(session, client)
        limit, known = _limit(session, client)
        total = open_total(ledger)
        return ClientLedger(client, name, today.isoformat(), _rows(ledger, today), _letters(session, ledger), total,
                            ledger.total_overdue(today), limit, known, limit is not None and total > limit,
                            ledger.level_due(today, dunning_policy(session)), age_buckets(ledger, today),
                            contract_choices(session, client))


def ledger_overview(session: Session) -> LedgerOverview:
    """Every client's ledger in one view, recorded as a ledger read."""
    with session.recorded("ledger-list"):
        session.require("read", LEDGER_CLASS)
        session.class_key(LEDGER_CLASS)
        today, policy = _today(session), dunning_policy(session)
        directory = session.directory()
        summaries, rows, ages = [], [], AgeBuckets()
        for code in sorted(directory.clients):
            ledger = read_ledger(session, code)
            if not ledger.invoices:
                continue
            limit, known = _limit(session, code)
            total, overdue, aged = open_total(ledger), ledger.overdue(today), age_buckets(ledger, today)
            summaries.append(LedgerSummary(code, directory.clients[code]["name"], len(ledger.invoices), total,
                                           ledger.total_overdue(today), max((i.days_overdue(today) for i in overdue),
                                                                            default=0),
                                           limit, known, limit is not None and total > limit,
                                           ledger.level_due(today, policy), aged))
            rows += _rows(ledger, today)
            ages += aged
        rows.sort(key=lambda r: (-r.days_overdue, r.due, r.client, r.invoice))
        return LedgerOverview(today.isoformat(), summaries, rows, ages,
                              {code: c["name"] for code, c in sorted(directory.clients.items())})


def run_overdue(session: Session, expected: list[str]) -> list:
    """The overdue batch after its preview (:func:`archive_manager.generating.plan_overdue`):
    the letters of ``expected`` (their keys) generated and filed back, or none
    if the plan changed since. The letters' files are written in a private
    directory removed afterwards: what is kept is filed in the dossier. A
    user without the rights is refused (and recorded) before anything is read."""
    import shutil
    import tempfile

    from archive_manager import generating

    if not (session.policy.allows(session.departments, "generate")
            and session.policy.allows(session.departments, "file", LEDGER_CLASS)):
        with session.recorded("generate", template=generating.DUNNING):
            session.require("generate")
            session.require("file", LEDGER_CLASS)
    folder = tempfile.mkdtemp(prefix="archive-overdue-")
    try:
        return generating.generate_overdue(session, Path(folder), expected=list(expected))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
