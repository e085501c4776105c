"""The receivables as the pages show them (issue 19): receivables by age
(the buckets sum to the open total, a property), a client's ledger with the
letters sent and the level each invoice is at, the overview of every client,
and the overdue batch's plan, which the run follows or refuses."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st

from archive_manager import clients, filing, generating, receivables
from archive_manager.errors import AccessDenied, ConflictError
from archive_manager.generation.ledger import Ledger
from archive_manager.receivables import AGES, AgeBuckets, age_buckets, age_of, open_total
from archive_manager.runtime import Runtime
from tests.conftest import COMPANY, sign_letterhead

DAY = date(2026, 11, 1)

invoice = st.tuples(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999999.99"), places=2),
                    st.integers(-200, 400),  # due: days before (+) or after (-) the day
                    st.integers(0, 3))  # payments


@settings(max_examples=150, deadline=None)
@given(st.lists(invoice, max_size=12), st.integers(0, 500), st.randoms(use_true_random=False))
def test_the_age_buckets_sum_to_the_open_total(invoices, later, rnd):
    ledger = Ledger("C001")
    for n, (amount, due_days, payments) in enumerate(invoices):
        ledger.add(f"INV-{n}", amount, DAY - timedelta(days=due_days))
        for _ in range(payments):
            rest = ledger.get(f"INV-{n}").outstanding
            if rest > 0:
                ledger.pay(f"INV-{n}", DAY, (rest * Decimal(rnd.randint(1, 100)) / 100).quantize(Decimal("0.01"))
                           or rest)
    today = DAY + timedelta(days=later)
    ages = age_buckets(ledger, today)
    assert ages.total == open_total(ledger) and all(isinstance(v, Decimal) and v >= 0 for v in ages.values())
    for i in ledger.invoices.values():  # each open amount is in the bucket its days overdue say
        if i.outstanding:
            assert getattr(ages, age_of(i.days_overdue(today))) >= i.outstanding
    assert (ages + ages).total == 2 * ages.total


@pytest.mark.parametrize("days,bucket", [(0, "current"), (1, "days_1_30"), (30, "days_1_30"), (31, "days_31_60"),
                                         (60, "days_31_60"), (61, "days_61_90"), (90, "days_61_90"), (91, "over_90")])
def test_the_bucket_edges(days, bucket):
    assert age_of(days) == bucket and bucket in AGES


def test_amounts_are_decimal_and_text_in_json():
    ages = AgeBuckets(current=Decimal("1.50"), over_90=Decimal("1000000"))
    assert ages.to_dict() == {"current": "1.50", "days_1_30": "0.00", "days_31_60": "0.00", "days_61_90": "0.00",
                              "over_90": "1000000.00", "total": "1000001.50"}


def at(archive, user: str, day: str):
    archive.home.runtime = Runtime(now=lambda: datetime.fromisoformat(day).replace(tzinfo=timezone.utc))
    return archive.login(user)


@pytest.fixture
def books(letterhead):
    """C001 with a paid, a partly paid and an open invoice; C002 overdue; C003 without invoices."""
    sign_letterhead(letterhead, COMPANY + 'bank = "工商银行"\naccount = "0200"\n')
    alice = letterhead.login("alice")
    clients.add_client(alice, "C002", "上海明月广告有限公司")
    clients.add_client(alice, "C003", "广州南方日化有限公司")
    carol = at(letterhead, "carol", "2026-11-01")
    receivables.add_invoice(carol, "C001", "INV-1", "100000", "2026-07-01")   # 123 days
    receivables.record_payment(carol, "C001", "INV-1", "40000", "2026-08-01")
    receivables.add_invoice(carol, "C001", "INV-2", "5000", "2026-10-01")     # paid
    receivables.record_payment(carol, "C001", "INV-2", None, "2026-10-02")
    receivables.add_invoice(carol, "C001", "INV-3", "7000.50", "2026-11-30")  # not yet due
    receivables.add_invoice(carol, "C002", "INV-4", "300", "2026-10-10")      # 22 days
    return letterhead


def test_a_clients_ledger_its_letters_and_the_level_of_each_invoice(books, tmp_path):
    carol = at(books, "carol", "2026-11-01")
    first = generating.generate(carol, "dunning-letter", "C001", out=tmp_path / "a.docx")
    hand = tmp_path / "催款函.txt"
    hand.write_text("催款函（手工）", encoding="utf-8")
    by_hand = filing.file_document(carol, hand, "C001", "dunning-letter").doc_id
    view = receivables.client_ledger(carol, "C001")
    assert (view.name, view.open, view.overdue, view.level_due) == (
        "北京星辰传媒有限公司", Decimal("67000.50"), Decimal("60000.00"), 3)
    assert [(r.invoice, r.outstanding, r.days_overdue, r.age, r.level) for r in view.invoices] == [
        ("INV-1", Decimal("60000.00"), 123, "over_90", 3), ("INV-2", Decimal("0.00"), 0, "paid", None),
        ("INV-3", Decimal("7000.50"), 0, "current", None)]
    assert [(p.amount, p.paid_on) for p in view.invoices[0].payments] == [(Decimal("40000.00"), "2026-08-01")]
    assert [(x.level, x.sent_on, x.invoices, x.doc_id) for x in view.letters] == [
        (None, "2026-11-01", [], by_hand), (3, "2026-11-01", ["INV-1"], first.doc_id)]
    assert view.ages == AgeBuckets(current=Decimal("7000.50"), over_90=Decimal("60000.00"))
    assert (view.limit, view.limit_known, view.over) == (None, True, False)
    assert view.to_dict()["open"] == "67000.50"


def test_the_overview_of_every_client(books):
    carol = at(books, "carol", "2026-11-01")
    view = receivables.ledger_overview(carol)
    assert [(s.client, s.invoices, s.open, s.overdue, s.days_overdue, s.level_due) for s in view.clients] == [
        ("C001", 3, Decimal("67000.50"), Decimal("60000.00"), 123, 3),
        ("C002", 1, Decimal("300.00"), Decimal("300.00"), 22, 1)]
    assert [r.invoice for r in view.invoices] == ["INV-1", "INV-4", "INV-2", "INV-3"]
    assert view.ages.total == Decimal("67300.50") == sum((s.ages for s in view.clients), AgeBuckets()).total
    assert list(view.names) == ["C001", "C002", "C003"]
    with pytest.raises(AccessDenied):
        receivables.ledger_overview(books.login("bob"))


def test_the_plan_is_what_the_batch_sends_and_a_changed_plan_is_refused(books, tmp_path):
    carol = at(books, "carol", "2026-11-01")
    plan = generating.plan_overdue(carol)
    assert [(p.client, p.level, p.invoices, p.total, p.skipped) for p in plan] == [
        ("C001", 3, ["INV-1"], Decimal("60000.00"), None), ("C002", 1, ["INV-4"], Decimal("300.00"), None)]
    assert plan[0].to_dict()["total"] == "60000.00"
    assert [e.action for e in books.reporter.events[-1:]] == ["ledger-list"]
    stale = [p.key for p in plan]
    receivables.record_payment(carol, "C002", "INV-4", "100")
    with pytest.raises(ConflictError):
        receivables.run_overdue(carol, stale)
    assert [receivables.read_ledger(carol, c).letters for c in ("C001", "C002")] == [[], []]
    fresh = generating.plan_overdue(carol)
    rows = receivables.run_overdue(carol, [p.key for p in fresh])
    assert [(r.client, r.level, bool(r.letter.doc_id)) for r in rows] == [("C001", 3, True), ("C002", 1, True)]
    again = generating.plan_overdue(carol)  # the same day: the batch would skip both, as generate_overdue does
    assert [p.skipped is not None for p in again] == [True, True] and again[0].last.level == 3
    out = tmp_path / "out"
    out.mkdir()
    assert [r.skipped for r in generating.generate_overdue(carol, out)] == [p.skipped for p in again]
    assert receivables.run_overdue(carol, []) == [r for r in generating.generate_overdue(carol, out)]


def test_the_batch_is_refused_and_recorded_for_a_reader_without_generate(books):
    from archive_manager import accounts
    accounts.add_user(books.login("alice"), "mgmt", ["management"], "mgmt-pw")
    mgmt = at(books, "mgmt", "2026-11-01")
    keys = [p.key for p in generating.plan_overdue(mgmt)]  # management reads the ledger
    with pytest.raises(AccessDenied):
        receivables.run_overdue(mgmt, keys)
    assert (books.reporter.events[-1].action, books.reporter.events[-1].outcome) == ("generate", "denied")
