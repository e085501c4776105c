"""Every library operation returns a typed result: a frozen dataclass (or a
list of them), never a dict, whose ``to_dict()`` is the JSON shape the CLI's
``--json`` and the server's API print, made of JSON types only."""

from __future__ import annotations

import dataclasses
import io
import json
from datetime import date, datetime, timezone
from decimal import Decimal
from types import SimpleNamespace

import pytest
from hypothesis import given, strategies as st

from archive_manager import accounts, auditing, clients, documents, filing, generating, reading, receivables, verify
from archive_manager.generation.ledger import Invoice, Payment
from archive_manager.home import NewArchive
from archive_manager.runtime import Runtime
from tests.conftest import open_home, sign_letterhead

COMPANY = 'name = "北京某某广告有限公司"\naddress = "北京市朝阳区建国路1号"\nphone = "010-1"\n' \
          'bank = "工商银行"\naccount = "0200"\n'


def typed(result, cls: type) -> dict:
    """``result`` is a frozen ``cls`` whose ``to_dict()`` survives JSON unchanged; returns that dict."""
    assert isinstance(result, cls) and not isinstance(result, dict)
    assert dataclasses.is_dataclass(result)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(result, dataclasses.fields(result)[0].name, None)
    out = result.to_dict()
    assert type(out) is dict
    assert json.loads(json.dumps(out, ensure_ascii=False)) == out  # lists, not tuples; no dataclass inside
    return out


def typed_list(results, cls: type) -> list[dict]:
    assert isinstance(results, list) and results
    return [typed(r, cls) for r in results]


@pytest.fixture
def filed(archive, tmp_path):
    """bob (legal) files a contract and a new version of it."""
    bob = archive.login("bob")
    src = tmp_path / "合同.txt"
    src.write_text("广告投放合同 第一版", encoding="utf-8")
    first = filing.file_document(bob, src, "C001", "contract", number="HT-2026-001")
    src.write_text("广告投放合同 第二版", encoding="utf-8")
    filing.file_document(bob, src, "C001", "contract", replaces=first.doc_id)
    return first.doc_id


@pytest.fixture
def auditor(archive):
    accounts.add_user(archive.login("alice"), "dave", ["audit"], "dave-pw")
    return archive.login("dave")


def test_init_returns_a_new_archive(tmp_path):
    root = tmp_path / "fresh"
    root.mkdir()
    d = typed(open_home(root).init("alice", "alice-pw"), NewArchive)
    assert set(d) == {"home", "vault_id", "admin", "kdf_profile", "classes", "fingerprint"}
    assert d["admin"] == "alice" and "contract" in d["classes"]


def test_accounts(archive):
    alice = archive.login("alice")
    added = typed(accounts.add_user(alice, "erin", ["business"], "erin-pw", "王芳"), accounts.AddedUser)
    assert added == {"user": "erin", "display_name": "王芳", "departments": ["business"],
                     "classes": ["basic", "business", "communication", "project", "service"],
                     "fingerprint": added["fingerprint"], "one_time": False}
    rows = typed_list(accounts.list_users(alice), accounts.UserEntry)
    assert [r["user"] for r in rows] == ["alice", "bob", "carol", "erin"]
    assert set(rows[0]) == {"user", "display_name", "departments", "status", "created", "fingerprint",
                            "passphrase_to_set"}
    changed = accounts.change_passphrase(archive.login("erin"), "erin-new-pw")
    assert typed(changed, accounts.PassphraseChange) == {"user": "erin", "changed": True}
    removed = accounts.remove_user(alice, "erin")
    d = typed(removed, accounts.RemovedUser)
    assert set(d) == {"user", "removed", "rotated", "notes", "message"}
    assert removed.user == "erin" and removed.removed and "business" in removed.rotated
    synced = accounts.sync_policy(alice)
    d = typed(synced, accounts.PolicySync)
    assert set(d) == {"created", "sealed", "revoked", "rotated", "notes", "policy_changed", "diff", "policy",
                      "migrated"}
    assert not synced.policy_changed and synced.diff == []


def test_clients(archive):
    alice = archive.login("alice")
    me = typed(clients.whoami(alice), clients.SignedInUser)
    assert set(me) == {"user", "departments", "actions", "classes", "fingerprint"} and me["user"] == "alice"
    added = typed(clients.add_client(alice, "C002", "上海某某公司", {"legal_rep": "李娜"}), clients.AddedClient)
    assert added == {"client": "C002", "name": "上海某某公司", "profile": {"legal_rep": "李娜"}}
    rows = typed_list(clients.list_clients(alice), clients.ClientEntry)
    assert [(r["client"], r["name"]) for r in rows] == [("C001", "北京星辰传媒有限公司"),
                                                        ("C002", "上海某某公司")]
    shown = typed(clients.show_client(alice, "C001"), clients.ClientSummary)
    assert "history" not in shown and shown["profile"] == {"legal_rep": "张伟"}
    clients.edit_client(alice, "C001", {"legal_rep": "张三"})
    summary = clients.show_client(alice, "C001", history=True)
    shown = typed(summary, clients.ClientSummary)
    assert [h.new for h in summary.history] == ["张三"]
    assert shown["history"] == [{"field": "legal_rep", "old": "张伟", "new": "张三", "by": "alice",
                                 "time": summary.history[0].time}]


def test_documents_and_reading(archive, filed, tmp_path):
    bob = archive.login("bob")
    rows = reading.list_documents(bob)
    d = typed_list(rows, reading.DocumentRow)[0]
    assert d["class"] == "contract" and "access_class" not in d and d["versions"] == 2
    assert set(d) == {"doc_id", "client", "type", "class", "title", "number", "date", "version", "versions", "size",
                      "original_name", "filed_at", "filed_by", "text", "text_reason"}
    found = reading.locate(bob, filed)
    assert reading.document_row(found.client, found.slot, filed, found.doc) == rows[0]
    shown = documents.show_document(bob, filed, history=True)
    d = typed(shown, documents.DocumentDetails)
    assert d["class"] == "contract" and [v["version"] for v in d["versions"]] == [1, 2]
    assert all(isinstance(v, documents.DocumentVersion) for v in shown.versions)
    assert set(d["versions"][0]) == {"version", "date", "type", "original_name", "size", "sha256", "filed_at",
                                     "filed_by", "text"}
    assert "history" not in documents.show_document(bob, filed).to_dict() and d["history"] == []
    copy = reading.read_document(bob, filed, io.BytesIO(), version=1)
    d = typed(copy, reading.DocumentCopy)
    assert d["version"] == 1 and d["versions"] == 2 and d["doc_id"] == filed and len(d["sha256"]) == 64
    out = tmp_path / "out.txt"
    d = typed(reading.export_to_path(bob, filed, out), reading.DocumentCopy)
    assert d["version"] == 2 and d["size"] == out.stat().st_size
    edit = documents.edit_document(bob, filed, title="新标题")
    d = typed(edit, documents.DocumentEdit)
    assert d["document"]["title"] == "新标题" and d["changes"][0]["field"] == "title" and d["warnings"] == []


def test_verify_and_audit(archive, filed, auditor):
    report = verify.verify_vault(archive.login("alice"))
    d = typed(report, verify.VaultReport)
    assert report.ok and d["problems"] == [] and d["checked"]["versions"] == 2
    assert set(d) == {"ok", "checked", "classes", "not_checked", "problems", "notes"}
    events = auditing.read_log(auditor, auditing.LogFilter(action="file"))
    rows = typed_list(events, auditing.LogEntry)
    assert set(rows[0]) == {"seq", "time", "user", "departments", "action", "outcome", "objects", "reason", "host",
                            "details", "signed", "changed_files"}
    cp = auditing.checkpoint(auditor)
    d = typed(cp, auditing.SignedCheckpoint)
    assert set(d) == {"kind", "vault", "seq", "head", "time", "signer", "sig"}
    trail = auditing.verify_trail(archive.home, cp.line())
    d = typed(trail, auditing.TrailReport)
    assert trail.ok and d["failure"] is None and [c["source"] for c in d["checkpoints"]] == ["stored", "given"]
    assert set(d) == {"ok", "events", "first_time", "last_time", "head", "failure", "checkpoints",
                      "stored_checkpoints", "fingerprint"}


def test_a_failed_verification_names_its_problems(archive, filed):
    alice = archive.login("alice")
    slot = reading.locate(alice, filed).slot
    blob = slot.documents[filed]["versions"][0]["blob"]
    path = alice.vault.paths.blob(slot.dossier, slot.slot_id, blob)
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    report = verify.verify_vault(alice)
    d = typed(report, verify.VaultReport)
    assert not report.ok and isinstance(report.problems[0], verify.VaultProblem)
    assert d["problems"][0]["doc_id"] == filed and d["problems"][0]["version"] == 1


def test_ledger_and_generation(archive, tmp_path):
    sign_letterhead(archive, COMPANY)
    archive.home.runtime = Runtime(now=lambda: datetime(2026, 11, 1, tzinfo=timezone.utc))
    carol = archive.login("carol")
    entry = typed(receivables.add_invoice(carol, "C001", "INV-1", "128000.00", "2026-09-30"),
                  receivables.InvoiceEntry)
    assert entry == {"client": "C001", "invoice": "INV-1", "amount": "128000.00", "paid": "0.00",
                     "outstanding": "128000.00", "due": "2026-09-30", "contract": None, "days_overdue": 32}
    typed(receivables.record_payment(carol, "C001", "INV-1", "1000.00", "2026-10-01"), receivables.InvoiceEntry)
    rows = typed_list(receivables.list_invoices(carol, overdue=True), receivables.InvoiceEntry)
    assert rows[0]["outstanding"] == "127000.00"
    one = generating.generate(carol, "dunning-letter", "C001", out=tmp_path / "one.docx", file_back=False)
    assert typed(one, generating.GeneratedDocument) == {
        "template": "dunning-letter", "template_sha256": one.template_sha256, "client": "C001",
        "path": str(tmp_path / "one.docx"), "doc_id": None, "version": None, "level": 2,
        "derived_from": ["invoice:INV-1"]}
    folder = tmp_path / "letters"
    folder.mkdir()
    sent = typed_list(generating.generate_overdue(carol, folder), generating.OverdueLetter)
    assert sent[0]["skipped"] is None and sent[0]["doc_id"] and "template_sha256" in sent[0]
    again = typed_list(generating.generate_overdue(carol, folder), generating.OverdueLetter)
    assert set(again[0]) == {"template", "client", "path", "doc_id", "version", "level", "skipped"}
    assert again[0]["skipped"] and again[0]["path"] is None


# --- round trips over any value ------------------------------------------------------------

money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999999.99"), places=2)
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))
text = st.text(min_size=1, max_size=20)


@given(number=text, amount=money, due=days, contract=st.none() | text, paid=st.lists(money, max_size=3),
       today=days)
def test_an_invoice_entry_round_trips_through_json(number, amount, due, contract, paid, today):
    invoice = Invoice(number, amount, due, contract, tuple(Payment(p, due) for p in paid))
    entry = receivables.invoice_row("C001", invoice, today)
    d = typed(entry, receivables.InvoiceEntry)
    assert receivables.InvoiceEntry(**json.loads(json.dumps(d))) == entry
    assert Decimal(d["outstanding"]) == amount - sum(paid, Decimal(0))


@given(title=text, number=st.none() | text, versions=st.integers(1, 4), size=st.integers(0, 2**40),
       status=st.sampled_from(["ok", "failed", "empty"]), reason=st.none() | text,
       cls=st.sampled_from(["contract", "credit", "basic"]), day=days)
def test_a_document_row_round_trips_through_json(title, number, versions, size, status, reason, cls, day):
    version = {"date": day.isoformat(), "size": size, "original_name": "a.pdf", "filed_at": "2026-01-01T00:00:00Z",
               "filed_by": "bob", "text": {"status": status, "reason": reason}}
    doc = {"type": "contract", "title": title, "number": number,
           "versions": [{**version, "version": n} for n in range(1, versions + 1)]}
    row = reading.document_row("C001", SimpleNamespace(access_class=cls), "C001-X", doc)
    d = typed(row, reading.DocumentRow)
    back = json.loads(json.dumps(d))
    assert reading.DocumentRow(**{("access_class" if k == "class" else k): v for k, v in back.items()}) == row
    assert (d["class"], d["version"], d["versions"], d["text"]) == (cls, versions, versions, status)
