"""The receivables ledger in the credit slot: entering invoices and payments,
overdue days as of an injected day, rights, audit, and no plaintext at rest."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from archive_manager import clients, filing, receivables
from archive_manager.errors import AccessDenied, ConflictError, UsageError
from archive_manager.runtime import Runtime
from archive_manager.verify import verify_vault


def at(archive, day: str):
    """Sign carol in with the clock set to ``day``."""
    archive.home.runtime = Runtime(now=lambda: datetime.fromisoformat(day).replace(tzinfo=timezone.utc))
    return archive.login("carol")


def test_invoices_payments_and_overdue_days_across_a_month_end(archive):
    carol = at(archive, "2026-10-01")
    receivables.add_invoice(carol, "C001", "INV-0042", "128000.00", "2026-09-30")
    receivables.add_invoice(carol, "C001", "INV-0043", "16409.02", "2026-10-31", contract="C001-k3m7q2xa")
    row = receivables.record_payment(carol, "C001", "INV-0042", "28000")
    assert (row.paid, row.outstanding, row.days_overdue) == ("28000.00", "100000.00", 1)
    carol = at(archive, "2026-11-01")
    rows = receivables.list_invoices(carol, "C001", overdue=True)
    assert [(r.invoice, r.days_overdue, r.outstanding) for r in rows] == [
        ("INV-0042", 32, "100000.00"), ("INV-0043", 1, "16409.02")]
    receivables.record_payment(carol, "C001", "INV-0043")
    assert [r.invoice for r in receivables.list_invoices(carol, overdue=True)] == ["INV-0042"]
    assert [r.invoice for r in receivables.list_invoices(carol)] == ["INV-0042", "INV-0043"]


def test_the_ledger_survives_filing_into_the_same_slot_and_verify_is_clean(archive, tmp_path):
    carol = at(archive, "2026-11-01")
    receivables.add_invoice(carol, "C001", "INV-0042", "128000.00", "2026-09-30")
    src = tmp_path / "report.txt"
    src.write_text("信用报告 A级", encoding="utf-8")
    filing.file_document(carol, src, "C001", "credit-report")
    assert [r.invoice for r in receivables.list_invoices(carol, "C001")] == ["INV-0042"]
    assert verify_vault(archive.login("alice")).ok


def test_departments_without_the_credit_class_are_refused(archive):
    bob = archive.login("bob")  # legal
    with pytest.raises(AccessDenied):
        receivables.list_invoices(bob)
    with pytest.raises(AccessDenied):
        receivables.add_invoice(bob, "C001", "INV-1", "1", "2026-01-01")
    assert [e.outcome for e in archive.reporter.events if e.action.startswith("ledger")] == ["denied", "denied"]


@pytest.mark.parametrize("args,error", [
    (("INV-0042", "1", "2026-01-01"), ConflictError),       # already there
    (("INV-9", "-5", "2026-01-01"), UsageError),
    (("INV-9", "12x", "2026-01-01"), UsageError),
    (("INV-9", "5", "2026-02-30"), UsageError),
])
def test_bad_entries_are_refused_and_change_nothing(archive, args, error):
    carol = at(archive, "2026-11-01")
    receivables.add_invoice(carol, "C001", "INV-0042", "128000.00", "2026-09-30")
    with pytest.raises(error):
        receivables.add_invoice(carol, "C001", *args)
    assert [r.invoice for r in receivables.list_invoices(carol)] == ["INV-0042"]


def test_a_contract_of_another_client_is_refused(archive):
    alice = archive.login("alice")
    clients.add_client(alice, "C002", "上海明月广告有限公司")
    with pytest.raises(UsageError, match="does not belong"):
        receivables.add_invoice(at(archive, "2026-11-01"), "C001", "INV-1", "1", "2026-12-01",
                                contract="C002-k3m7q2xa")


def test_the_ledger_is_encrypted_at_rest_and_its_changes_are_audited(archive):
    carol = at(archive, "2026-11-01")
    receivables.add_invoice(carol, "C001", "INV-SECRET-77", "987654.32", "2026-09-30")
    receivables.record_payment(carol, "C001", "INV-SECRET-77", "1.00")
    vault = Path(archive.home.settings.vault_dir)
    for f in vault.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            assert b"INV-SECRET-77" not in data and b"987654.32" not in data, f
    events = [e for e in archive.reporter.events if e.action in ("ledger-add", "ledger-paid")]
    assert [(e.action, e.outcome, e.user, e.objects.get("client")) for e in events] == [
        ("ledger-add", "ok", "carol", "C001"), ("ledger-paid", "ok", "carol", "C001")]
    assert all(e.state for e in events)  # each a recorded vault commit
    log = archive.home.audit_log().path.read_bytes()
    assert b"INV-SECRET-77" not in log and b"987654.32" not in log
