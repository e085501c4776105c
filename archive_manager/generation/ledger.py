"""The receivables ledger of one client, as values: invoices, payments, what
is overdue on a given day, and which dunning level is due. (Storing it in the
credit class of the dossier, and the ``ledger`` commands, come with the
generation issue's next steps.)

Dunning levels: 1 reminder (提醒函), 2 formal demand (催告函), 3 final notice
before legal action (律师函前最后通知). The level due is the higher of the
level the days overdue reach (``thresholds``) and one above the last letter
sent, once ``min_gap_days`` have passed since it; never above 3. Within
``min_gap_days`` of a letter, a batch run sends no second letter at its level
or below (:meth:`Ledger.recent_letter`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

from archive_manager.errors import ConflictError, NotFound, UsageError
from archive_manager.generation.values import money

LEVELS = {1: "reminder", 2: "formal demand", 3: "final notice"}


@dataclass(frozen=True)
class Payment:
    amount: Decimal
    paid_on: date


@dataclass(frozen=True)
class Invoice:
    number: str
    amount: Decimal
    due: date
    contract: str | None = None
    payments: tuple[Payment, ...] = ()

    @property
    def paid(self) -> Decimal:
        return sum((p.amount for p in self.payments), Decimal("0.00"))

    @property
    def outstanding(self) -> Decimal:
        return self.amount - self.paid

    def days_overdue(self, today: date) -> int:
        """Whole days past the due date with money still outstanding (0 if none)."""
        if self.outstanding <= 0 or today <= self.due:
            return 0
        return (today - self.due).days


@dataclass(frozen=True)
class Letter:
    level: int
    sent_on: date
    invoices: tuple[str, ...]


@dataclass(frozen=True)
class DunningPolicy:
    thresholds: tuple[int, int, int] = (1, 30, 60)  # days overdue that reach levels 1, 2, 3
    min_gap_days: int = 14  # between two letters, before the level goes up for that reason alone

    def __post_init__(self) -> None:
        a, b, c = self.thresholds
        if not 0 < a < b < c or self.min_gap_days < 0:
            raise UsageError("dunning thresholds must be increasing positive day counts")


@dataclass
class Ledger:
    client: str
    invoices: dict[str, Invoice] = field(default_factory=dict)
    letters: list[Letter] = field(default_factory=list)

    def add(self, number: str, amount: object, due: date, contract: str | None = None) -> Invoice:
        if not number or len(number) > 64:
            raise UsageError("an invoice number is 1 to 64 characters")
        if number in self.invoices:
            raise ConflictError(f"invoice {number!r} is already in the ledger of {self.client}")
        amount = money(amount)
        if amount <= 0:
            raise UsageError(f"invoice {number!r}: the amount must be positive")
        invoice = Invoice(number, amount, due, contract)
        self.invoices[number] = invoice
        return invoice

    def pay(self, number: str, paid_on: date, amount: object | None = None) -> Invoice:
        """Record a payment (default: everything still outstanding)."""
        invoice = self.get(number)
        if invoice.outstanding <= 0:
            raise ConflictError(f"invoice {number!r} is already paid")
        value = invoice.outstanding if amount is None else money(amount)
        if value <= 0 or value > invoice.outstanding:
            raise UsageError(f"invoice {number!r}: a payment must be between 0.01 and {invoice.outstanding}")
        invoice = replace(invoice, payments=(*invoice.payments, Payment(value, paid_on)))
        self.invoices[number] = invoice
        return invoice

    def get(self, number: str) -> Invoice:
        try:
            return self.invoices[number]
        except KeyError:
            raise NotFound(f"no invoice {number!r} in the ledger of {self.client}") from None

    def overdue(self, today: date) -> list[Invoice]:
        return sorted((i for i in self.invoices.values() if i.days_overdue(today) > 0),
                      key=lambda i: (i.due, i.number))

    def total_overdue(self, today: date) -> Decimal:
        return sum((i.outstanding for i in self.overdue(today)), Decimal("0.00"))

    def recent_letter(self, today: date, level: int, policy: DunningPolicy = DunningPolicy()) -> Letter | None:
        """The newest letter at ``level`` or above sent less than ``min_gap_days``
        before ``today``: while there is one, a letter at ``level`` repeats it."""
        recent = [x for x in self.letters if x.level >= level and 0 <= (today - x.sent_on).days < policy.min_gap_days]
        return max(recent, key=lambda x: (x.sent_on, x.level), default=None)

    def level_due(self, today: date, policy: DunningPolicy = DunningPolicy()) -> int | None:
        """The dunning level to send today, or None when nothing is overdue."""
        overdue = self.overdue(today)
        if not overdue:
            return None
        days = max(i.days_overdue(today) for i in overdue)
        level = max((n for n, t in enumerate(policy.thresholds, 1) if days >= t), default=1)
        if self.letters:
            last = max(self.letters, key=lambda l: (l.sent_on, l.level))
            if (today - last.sent_on).days >= policy.min_gap_days:
                level = max(level, last.level + 1)
            else:
                level = max(level, last.level)
        return min(level, 3)
