"""The receivables ledger as values: outstanding amounts, days overdue across
month ends with an injected day, and the dunning level due."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from archive_manager.errors import ConflictError, NotFound, UsageError
from archive_manager.generation.ledger import DunningPolicy, Ledger, Letter


def ledger() -> Ledger:
    led = Ledger("C001")
    led.add("INV-0042", "128000.00", date(2026, 9, 30), contract="C001-k3m9q2xa")
    led.add("INV-0043", "50000", date(2026, 10, 31))
    return led


@pytest.mark.parametrize("today,days", [
    (date(2026, 9, 30), 0),    # due today: not overdue
    (date(2026, 10, 1), 1),    # across a month end
    (date(2026, 10, 31), 31),
    (date(2026, 11, 1), 32),
    (date(2027, 3, 1), 152),   # across a year end and February
])
def test_days_overdue_across_month_ends(today, days):
    assert ledger().get("INV-0042").days_overdue(today) == days


def test_payments_reduce_what_is_outstanding_and_a_paid_invoice_is_not_overdue():
    led = ledger()
    led.pay("INV-0042", date(2026, 10, 5), "28000.005")  # rounded half-up to 28000.01
    assert led.get("INV-0042").outstanding == Decimal("99999.99")
    assert led.total_overdue(date(2026, 11, 2)) == Decimal("149999.99")
    led.pay("INV-0042", date(2026, 10, 6))  # the rest
    assert led.get("INV-0042").outstanding == Decimal("0.00")
    assert [i.number for i in led.overdue(date(2026, 11, 2))] == ["INV-0043"]
    with pytest.raises(ConflictError):
        led.pay("INV-0042", date(2026, 10, 7))


@pytest.mark.parametrize("amount", ["0", "-5", "50000.01"])
def test_bad_payments_are_refused(amount):
    with pytest.raises(UsageError):
        ledger().pay("INV-0043", date(2026, 11, 1), amount)


def test_unknown_and_duplicate_invoices():
    led = ledger()
    with pytest.raises(NotFound):
        led.pay("INV-9999", date(2026, 11, 1))
    with pytest.raises(ConflictError):
        led.add("INV-0042", "1", date(2026, 1, 1))
    with pytest.raises(UsageError):
        led.add("INV-0050", "0", date(2026, 1, 1))


@pytest.mark.parametrize("today,level", [
    (date(2026, 9, 30), None),  # nothing overdue yet
    (date(2026, 10, 1), 1),
    (date(2026, 10, 29), 1),    # 29 days
    (date(2026, 10, 30), 2),    # 30 days
    (date(2026, 11, 28), 2),
    (date(2026, 11, 29), 3),    # 60 days
    (date(2027, 6, 1), 3),      # never above 3
])
def test_level_from_days_overdue(today, level):
    assert ledger().level_due(today) == level


def test_level_rises_after_a_letter_once_the_gap_has_passed():
    led = ledger()
    led.letters.append(Letter(1, date(2026, 10, 3), ("INV-0042",)))
    assert led.level_due(date(2026, 10, 10)) == 1   # 10 days overdue, last letter 7 days ago
    assert led.level_due(date(2026, 10, 17)) == 2   # 14 days after the reminder
    led.letters.append(Letter(3, date(2026, 12, 1), ("INV-0042",)))
    assert led.level_due(date(2027, 1, 15)) == 3


def test_thresholds_must_increase():
    with pytest.raises(UsageError):
        DunningPolicy((30, 10, 60))
    assert ledger().level_due(date(2026, 10, 11), DunningPolicy((1, 10, 20))) == 2
