"""Attacks on the issue-19 desks (paperwork, receivables, the audit desk, the
admin desk's upkeep) as their users would try them: each role reaching for
what it may not (by URL, HEAD, a bearer token instead of the cookie), other
classes' document ids, CSRF, XSS through every name a user can type, CSV
formulas, quarantine ids, the overdue batch's confirm form tampered, bad
forms and values. A test that fails here is a weakness (see the report).

One archive for the module: alice (admin), bob (legal), carol (credit),
mike (marketing), nora (paralegal: generate, no export), maria
(management: reads credit, files nothing), una (audit); clients C001, C002
and C003 (a hostile name); contracts of C001 and C002; overdue invoices."""

from __future__ import annotations

import csv
import io
import json
import os
import re

import pytest
from starlette.testclient import TestClient

from archive_manager import accounts, clients, filing, receivables
from archive_manager.generation import pdf as pdfs
from archive_manager.ingest import inbox
from archive_manager.server.app import create_app
from archive_manager.server.web import SESSION_COOKIE, ServerSettings
from tests.conftest import Archive, open_home, sign_letterhead
from tests.ingest.inbox_helpers import drop
from tests.server.test_paperwork_pages import FULL_COMPANY, PARALEGAL, Clock

EVIL = '<script>alert(1)</script>"\'</text><svg onload=alert(2)>'


def build(root) -> tuple[Archive, dict]:
    home = open_home(root)
    home.init("alice", "alice-pw")
    arch = Archive(root, home, home.reporter)
    policies = home.settings.policies_dir
    for name, extra in zip(("departments.toml", "grants.toml"), PARALEGAL):
        path = policies / name
        path.write_text(path.read_text(encoding="utf-8") + extra, encoding="utf-8")
    sign_letterhead(arch, FULL_COMPANY)
    alice = arch.login("alice")
    for user, depts in (("bob", ["legal"]), ("carol", ["credit"]), ("mike", ["marketing"]),
                        ("nora", ["paralegal"]), ("maria", ["management"]), ("una", ["audit"])):
        accounts.add_user(alice, user, depts, f"{user}-pw")
    clients.add_client(alice, "C001", "北京星辰传媒有限公司", {"legal_rep": "张伟"})
    clients.add_client(alice, "C002", "上海云海广告有限公司", {"legal_rep": "李娜"})
    clients.add_client(alice, "C003", "恶意" + EVIL, {"legal_rep": "王五"})
    docs = {}
    bob = arch.login("bob")
    for code, number in (("C001", "HT-SECRET-001"), ("C002", "HT-SECRET-002")):
        src = root.parent / f"{code}-contract.docx"
        src.write_bytes(b"PK\x03\x04 not really a docx")
        docs[code] = filing.file_document(bob, src, code, "contract", title="机密合同标题", date="2026-03-01",
                                          number=number).doc_id
    carol = arch.login("carol")
    receivables.add_invoice(carol, "C001", "INV-0042", "128000.00", "2026-01-31")
    receivables.add_invoice(carol, "C002", "INV-0077", "5000.00", "2026-01-15")
    receivables.add_invoice(carol, "C003", "<img src=x onerror=alert(3)>", "777.00", "2026-01-20")
    return arch, docs


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("ARCHIVE_KDF_PROFILE", "test")
    root = tmp_path_factory.mktemp("desk-attacks") / "home"
    root.mkdir()
    arch, docs = build(root)
    yield arch, docs, create_app(arch.home, ServerSettings(), clock=Clock(), failed_delay=0.0)
    mp.undo()


@pytest.fixture(autouse=True)
def no_libreoffice(monkeypatch):
    monkeypatch.setattr(pdfs, "soffice", lambda *a: None)


class User:
    """A browser of one user (server errors come back as 500s, not raised)."""

    def __init__(self, app, name: str) -> None:
        self.client = TestClient(app, base_url="https://testserver", raise_server_exceptions=False)
        form = self.client.get("/signin")
        csrf = form.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        r = self.client.post("/signin", data={"user": name, "passphrase": f"{name}-pw", "csrf": csrf},
                             follow_redirects=False)
        assert r.status_code == 303, r.text
        self.token = self.client.cookies.get(SESSION_COOKIE)
        self.csrf = self.client.get("/account").text.split('name="csrf" value="', 1)[1].split('"', 1)[0]

    def get(self, url: str, **kw):
        return self.client.get(url, follow_redirects=False, **kw)

    def post(self, url: str, data=None, csrf: bool = True, **kw):
        data = {**({"csrf": self.csrf} if csrf else {}), **(data or {})}
        return self.client.post(url, data=data, follow_redirects=False, **kw)


@pytest.fixture(scope="module")
def users(world):
    _, _, app = world
    made: dict[str, User] = {}

    def get(name: str) -> User:
        if name not in made:
            made[name] = User(app, name)
        return made[name]

    yield get
    for u in made.values():
        u.client.close()


@pytest.fixture(scope="module")
def bare(world):
    """A client without cookies: for bearer tokens."""
    c = TestClient(world[2], base_url="https://testserver", raise_server_exceptions=False)
    yield c  # not entered as a context: leaving its lifespan would sign everyone out
    c.close()


def denied(world, action: str, user: str) -> list:
    return [e for e in world[0].reporter.events if e.action == action and e.user == user and e.outcome == "denied"]


def no_trace(r) -> None:
    assert r.status_code < 500, (r.status_code, r.text[:500])
    assert "Traceback" not in r.text and 'File "' not in r.text


def quarantined(world, rel: str, reason: str = "unknown client C999"):
    root = world[0].home.settings.inbox
    root.mkdir(exist_ok=True)
    path = drop(root, rel, "内容", None)
    return inbox.quarantine(root, path, None, reason, "add the client first")


def ids_of(html: str) -> list[str]:
    return re.findall(r'/admin/inbox/([0-9a-f]+)/retry', html)


# --- roles reaching for what they may not --------------------------------------------------


@pytest.mark.parametrize("url", ["/ledger", "/ledger/C001", "/ledger/overdue"])
def test_legal_may_not_read_the_ledger_by_get_head_or_bearer(world, users, bare, url):
    bob = users("bob")
    before = len(denied(world, "ledger-list", "bob"))
    for r in (bob.get(url), bob.client.head(url), bare.get(url, headers={"authorization": f"Bearer {bob.token}"})):
        assert r.status_code == 403
        assert "128000" not in r.text and "128,000" not in r.text and "INV-0042" not in r.text
    assert len(denied(world, "ledger-list", "bob")) == before + 3


@pytest.mark.parametrize("url", ["/audit", "/audit/events/1", "/audit/log.csv", "/audit/charts", "/audit/trail",
                                 "/audit/checkpoints/1"])
def test_non_auditors_may_not_open_the_audit_desk(world, users, bare, url):
    for name in ("bob", "alice"):
        u = users(name)
        before = len([e for e in world[0].reporter.events if e.user == name and e.outcome == "denied"])
        for r in (u.get(url), u.client.head(url), bare.get(url, headers={"authorization": f"Bearer {u.token}"})):
            assert r.status_code == 403, (name, url, r.status_code)
            assert "text/csv" not in r.headers.get("content-type", "")
        after = len([e for e in world[0].reporter.events if e.user == name and e.outcome == "denied"])
        assert after == before + 3


def test_non_auditors_may_not_sign_a_checkpoint(world, users):
    bob = users("bob")
    before = len(denied(world, "audit-checkpoint", "bob")) + len(denied(world, "audit-sign", "bob"))
    r = bob.post("/audit/checkpoints")
    assert r.status_code == 403
    refusals = [e for e in world[0].reporter.events if e.user == "bob" and e.outcome == "denied"]
    assert refusals and refusals[-1].action.startswith("audit")
    assert len(refusals) > before


def test_other_methods_on_the_desks_are_405(users):
    carol = users("carol")
    for method, url in (("PUT", "/ledger/C001/invoices"), ("DELETE", "/ledger/C001"),
                        ("DELETE", "/admin/inbox/0123456789abcdef/delete"), ("PATCH", "/audit"),
                        ("PUT", "/paperwork/dunning-letter")):
        r = carol.client.request(method, url, follow_redirects=False)
        assert r.status_code in (404, 405), (method, url, r.status_code)


def test_marketing_may_not_generate_even_with_a_bearer_token_and_the_csrf_header(world, users, bare):
    mike = users("mike")
    before = len(denied(world, "generate", "mike"))
    r = bare.post("/paperwork/dunning-letter", data={"client": "C001", "do": "generate"},
                  headers={"authorization": f"Bearer {mike.token}", "x-csrf-token": mike.csrf},
                  follow_redirects=False)
    assert r.status_code == 403
    assert len(denied(world, "generate", "mike")) == before + 1


def test_management_reads_the_ledger_but_may_not_enter_invoices_or_run_the_batch(world, users):
    maria = users("maria")
    assert maria.get("/ledger/C001").status_code == 200
    before = len(denied(world, "ledger-add", "maria"))
    r = maria.post("/ledger/C001/invoices", {"invoice": "INV-M", "amount": "1.00", "due": "2026-09-01"})
    assert r.status_code == 403 and len(denied(world, "ledger-add", "maria")) == before + 1
    r = maria.post("/ledger/C001/payments", {"invoice": "INV-0042", "amount": "1.00"})
    assert r.status_code == 403 and denied(world, "ledger-paid", "maria")
    r = maria.post("/ledger/overdue", {"letter": "x"})
    assert r.status_code == 403 and denied(world, "generate", "maria")
    assert "INV-M" not in {i.invoice for i in receivables.list_invoices(world[0].login("carol"), "C001")}


def test_a_non_admin_may_not_retry_or_delete_quarantined_files(world, users):
    quarantined(world, "C001/contract/stolen.txt")
    alice = users("alice")
    [item] = [i for i in ids_of(alice.get("/admin/inbox").text)][-1:]
    for name in ("carol", "una", "bob"):
        u = users(name)
        assert u.get("/admin/inbox").status_code == 403
        assert u.get(f"/admin/inbox/{item}/delete").status_code == 403
        assert u.post(f"/admin/inbox/{item}/retry").status_code == 403
        assert u.post(f"/admin/inbox/{item}/delete", {"confirm": "yes"}).status_code == 403
        assert denied(world, "inbox-retry", name) and denied(world, "inbox-delete", name)
        assert u.post("/admin/health/run", {"check": "all"}).status_code == 403
    assert item in ids_of(alice.get("/admin/inbox").text)  # still there


# --- other classes' document ids ------------------------------------------------------------


def test_credit_cannot_see_a_contract_through_the_paperwork_document_page(world, users):
    _, docs, _ = world
    r = users("carol").get(f"/paperwork/documents/{docs['C001']}")
    assert r.status_code in (403, 404)
    assert "机密合同标题" not in r.text and "HT-SECRET" not in r.text


def test_credit_asking_a_contracts_pdf_is_refused_and_recorded_even_without_libreoffice(world, users):
    """Without LibreOffice the PDF route answers 'install LibreOffice' before
    it asks whether the user may export the document at all: the refusal is
    never an audit event (and the user learns how the server is set up)."""
    _, docs, _ = world
    before = len(denied(world, "export", "carol"))
    r = users("carol").get(f"/paperwork/documents/{docs['C001']}/pdf")
    assert r.status_code in (403, 404), r.status_code
    assert len(denied(world, "export", "carol")) == before + 1 or r.status_code == 404


def test_a_pdf_without_export_is_refused_and_recorded(world, users, monkeypatch):
    _, docs, _ = world
    monkeypatch.setattr(pdfs, "soffice", lambda *a: "/usr/bin/soffice")
    monkeypatch.setattr(pdfs, "convert", lambda *a, **k: pytest.fail("converted for a user without export"))
    for name in ("nora", "carol"):
        before = len(denied(world, "export", name)) + len(denied(world, "get", name))
        r = users(name).get(f"/paperwork/documents/{docs['C001']}/pdf")
        assert r.status_code in (403, 404) and r.headers["content-type"].startswith("text/html")
        assert len(denied(world, "export", name)) + len(denied(world, "get", name)) == before + 1 \
            or r.status_code == 404
        r = users(name).client.head(f"/paperwork/documents/{docs['C001']}/pdf")
        assert r.status_code in (403, 404)


def test_an_invoice_may_not_name_a_contract_the_user_cannot_read_or_of_another_client(world, users):
    _, docs, _ = world
    carol = users("carol")
    for n, (client, contract) in enumerate((("C001", docs["C001"]), ("C001", docs["C002"]))):
        r = carol.post(f"/ledger/{client}/invoices", {"invoice": f"INV-X{n}", "amount": "10.00",
                                                      "due": "2026-09-01", "contract": contract})
        assert r.status_code == 400, r.status_code
        assert "机密合同标题" not in r.text and "HT-SECRET" not in r.text
    numbers = {i.invoice for i in receivables.list_invoices(world[0].login("carol"), "C001")}
    assert "INV-X0" not in numbers and "INV-X1" not in numbers


def test_the_paperwork_form_offers_no_contract_a_user_cannot_read(users):
    r = users("carol").get("/paperwork/dunning-letter")
    assert r.status_code == 200 and "机密合同标题" not in r.text and "HT-SECRET" not in r.text


# --- CSRF ------------------------------------------------------------------------------------


@pytest.mark.parametrize("url,data", [
    ("/ledger/C001/invoices", {"invoice": "INV-CSRF", "amount": "1.00", "due": "2026-09-01"}),
    ("/ledger/C001/payments", {"invoice": "INV-0042", "amount": "1.00"}),
    ("/ledger/overdue", {"letter": "[]"}),
    ("/paperwork/dunning-letter", {"client": "C001", "do": "generate"}),
])
def test_posts_without_the_token_or_with_anothers_are_refused(world, users, url, data):
    carol, bob = users("carol"), users("bob")
    before = len(world[0].reporter.events)
    for r in (carol.post(url, data, csrf=False),
              carol.post(url, {**data, "csrf": bob.csrf}, csrf=False),
              carol.post(url, data, csrf=False, headers={"origin": "https://evil.example"}),
              carol.post(url, {**data, "csrf": ""}, csrf=False)):
        assert r.status_code == 403, (url, r.status_code)
    acted = [e for e in world[0].reporter.events[before:] if e.outcome == "ok"
             and e.action in ("ledger-add", "ledger-paid", "generate")]
    assert not acted
    assert "INV-CSRF" not in {i.invoice for i in receivables.list_invoices(world[0].login("carol"), "C001")}


def test_admin_posts_without_the_token_are_refused(world, users):
    alice, bob = users("alice"), users("bob")
    quarantined(world, "C001/contract/csrf.txt")
    item = ids_of(alice.get("/admin/inbox").text)[-1]
    for url, data in ((f"/admin/inbox/{item}/retry", {}), (f"/admin/inbox/{item}/delete", {"confirm": "yes"}),
                      ("/admin/health/run", {"check": "disk"})):
        assert alice.post(url, data, csrf=False).status_code == 403
        assert alice.post(url, {**data, "csrf": bob.csrf}, csrf=False).status_code == 403
    assert item in ids_of(alice.get("/admin/inbox").text)


def test_a_refused_cross_site_post_is_an_audit_event(world, users):
    """A forged post (no token) changes nothing, but leaves no trace either:
    an attempt an auditor would want to see."""
    alice = users("alice")
    quarantined(world, "C001/contract/forged.txt")
    item = ids_of(alice.get("/admin/inbox").text)[-1]
    before = len(world[0].reporter.events)
    r = alice.post(f"/admin/inbox/{item}/delete", {"confirm": "yes"}, csrf=False,
                   headers={"origin": "https://evil.example"})
    assert r.status_code == 403
    new = [e for e in world[0].reporter.events[before:] if e.user == "alice" and e.outcome == "denied"]
    assert new, "the refused forged post was not recorded"


# --- XSS ---------------------------------------------------------------------------------------


def assert_escaped(html: str) -> None:
    assert "<script>alert" not in html
    assert "<svg onload" not in html
    assert "<img src=x" not in html


def test_hostile_client_names_and_invoice_numbers_are_escaped_in_the_ledger_and_its_charts(users):
    carol = users("carol")
    for url in ("/ledger", "/ledger/C003", "/ledger/overdue", "/ledger/overdue?lang=en", "/paperwork/dunning-letter"):
        r = carol.get(url)
        assert r.status_code == 200, url
        assert_escaped(r.text)
        csp = r.headers["content-security-policy"]
        assert "'unsafe-inline'" not in csp and "script-src" in csp or "default-src 'self'" in csp
    assert "&lt;script&gt;" in carol.get("/ledger").text


def test_a_hostile_invoice_number_typed_back_into_the_form_is_escaped(users):
    r = users("carol").post("/ledger/C001/invoices", {"invoice": EVIL, "amount": "nope", "due": "2026-09-01"})
    assert r.status_code == 400
    assert_escaped(r.text)


def test_hostile_quarantine_names_and_reasons_are_escaped(world, users):
    quarantined(world, "C001/contract/<script>alert(1)<\\script>.txt", reason=EVIL)
    alice = users("alice")
    r = alice.get("/admin/inbox")
    assert r.status_code == 200
    assert_escaped(r.text)
    for item in ids_of(r.text):
        assert_escaped(alice.get(f"/admin/inbox/{item}/delete").text)


def test_hostile_filters_on_the_audit_desk_are_escaped(users):
    una = users("una")
    for query in ({"action": EVIL}, {"user": EVIL}, {"client": EVIL}, {"address": EVIL}, {"since": EVIL},
                  {"document": EVIL}, {"department": EVIL}):
        r = una.get("/audit", params=query)
        no_trace(r)
        assert_escaped(r.text)
    r = una.get("/audit/charts", params={"since": EVIL})
    no_trace(r)
    assert_escaped(r.text)


def test_hostile_names_in_the_audit_log_and_charts_are_escaped(world, users):
    """A hostile user name typed at sign-in lands in the log (a failed sign-in)
    and in the charts (sign-in failures per address, denials per user)."""
    c = TestClient(world[2], base_url="https://testserver", raise_server_exceptions=False)
    if True:
        form = c.get("/signin")
        csrf = form.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        c.post("/signin", data={"user": EVIL, "passphrase": "x", "csrf": csrf})
    una = users("una")
    for url in ("/audit", "/audit/charts", "/audit?outcome=denied"):
        r = una.get(url)
        assert r.status_code == 200
        assert_escaped(r.text)
    seqs = re.findall(r'href="/audit/events/(\d+)"', una.get("/audit").text)
    for seq in seqs[:15]:
        r = una.get(f"/audit/events/{seq}")
        assert r.status_code == 200
        assert_escaped(r.text)


def test_csv_cells_typed_by_anyone_cannot_start_a_formula(world, users):
    c = TestClient(world[2], base_url="https://testserver", raise_server_exceptions=False)
    if True:
        for name in ("=HYPERLINK(\"http://evil\",\"x\")", "+1+2", "-2+3", "@SUM(A1)", "\t=1+1"):
            form = c.get("/signin")
            csrf = form.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            c.post("/signin", data={"user": name, "passphrase": "x", "csrf": csrf})
    users("una").get("/audit", params={"user": "=cmd|' /C calc'!A0"})
    r = users("una").get("/audit/log.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


# --- the audit desk's filters and paging --------------------------------------------------------


@pytest.mark.parametrize("query", [{"page": "-1"}, {"page": "0"}, {"page": "abc"}, {"page": str(10 ** 9)},
                                   {"page": "9" * 5000}, {"page": "1e3"}])
def test_odd_page_numbers_do_not_break_the_log(users, query):
    r = users("una").get("/audit", params=query)
    no_trace(r)
    assert r.status_code == 200


def test_a_huge_page_number_is_not_a_500(users):
    """``page`` is any int: ``deque(maxlen=page * size)`` overflows a C ssize_t."""
    r = users("una").get("/audit", params={"page": str(10 ** 20)})
    no_trace(r)


@pytest.mark.parametrize("query", [
    {"since": "2026-02-30"}, {"until": "2026-13-01"}, {"since": "2026-03-02", "until": "2026-03-01"},
    {"since": "x" * 5000}, {"user": "u" * 300}, {"address": "10.0.0.0/99"}, {"address": "::/0"},
    {"since": "2026-03-01T10:00+14:00"}, {"since": "2026-03-01T10:00-12:00"}, {"action": ".*"},
    {"user": ".*"}, {"since": "2026-03-01T25:00"},
])
def test_odd_filters_are_a_message_not_a_traceback(users, query):
    for url in ("/audit", "/audit/log.csv", "/audit/charts"):
        r = users("una").get(url, params=query)
        no_trace(r)
        assert r.status_code in (200, 400), (url, query, r.status_code)


@pytest.mark.parametrize("query", [{"until": "9999-12-31"}, {"since": "0001-01-01"},
                                   {"until": "9999-12-31T23:59"}, {"since": "0001-01-01T00:00"}])
def test_dates_at_the_ends_of_the_calendar_are_a_400(users, query):
    """The range is turned into UTC stamps: the day after 9999-12-31 and
    midnight of 0001-01-01 in Asia/Shanghai (UTC+8) overflow ``datetime``."""
    for url in ("/audit", "/audit/log.csv", "/audit/charts"):
        r = users("una").get(url, params=query)
        no_trace(r)
        assert r.status_code in (200, 400), (url, query, r.status_code)


def test_out_of_range_event_numbers(users):
    una = users("una")
    for url in ("/audit/events/0", "/audit/events/99999999", "/audit/events/" + "9" * 40, "/audit/events/-1",
                "/audit/events/1.5", "/audit/checkpoints/0", "/audit/checkpoints/" + "9" * 40):
        r = una.get(url)
        no_trace(r)
        assert r.status_code in (400, 404), (url, r.status_code)


# --- the quarantine's ids -------------------------------------------------------------------------


@pytest.mark.parametrize("item", ["..%2F..%2Fetc%2Fpasswd", "%2e%2e", "0123456789abcdef", "ABCDEF0123456789",
                                  "0" * 1000, "x%00y", "%E4%B8%AD"])
def test_quarantine_ids_that_are_not_ids(world, users, item):
    alice = users("alice")
    for r in (alice.post(f"/admin/inbox/{item}/retry"), alice.post(f"/admin/inbox/{item}/delete", {"confirm": "yes"}),
              alice.get(f"/admin/inbox/{item}/delete")):
        no_trace(r)
        assert r.status_code in (400, 404), (item, r.status_code)


def test_a_symlink_in_the_quarantine_is_deleted_never_followed(world, users, tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("keep me", encoding="utf-8")
    failed_dir = world[0].home.settings.inbox / ".failed" / "C001" / "contract"
    failed_dir.mkdir(parents=True, exist_ok=True)
    link = failed_dir / "link.txt"
    os.symlink(target, link)
    alice = users("alice")
    r = alice.get("/admin/inbox")
    assert r.status_code == 200 and "keep me" not in r.text
    for item in set(re.findall(r'/admin/inbox/([0-9a-f]+)/delete', r.text)):
        page = alice.get(f"/admin/inbox/{item}/delete").text
        if "link.txt" in page:
            assert alice.post(f"/admin/inbox/{item}/delete", {"confirm": "yes"}).status_code == 303
            break
    else:
        pytest.fail("the link is not listed")
    assert target.read_text(encoding="utf-8") == "keep me" and not link.is_symlink()


def test_a_delete_without_confirm_deletes_nothing(world, users):
    alice = users("alice")
    quarantined(world, "C001/contract/unconfirmed.txt")
    item = ids_of(alice.get("/admin/inbox").text)[-1]
    for data in ({}, {"confirm": "YES"}, {"confirm": "yes "}):
        r = alice.post(f"/admin/inbox/{item}/delete", data)
        no_trace(r)
        assert r.status_code == 400
    assert item in ids_of(alice.get("/admin/inbox").text)


def test_oversized_admin_forms_are_a_400(users):
    alice = users("alice")
    r = alice.post("/admin/health/run", {"check": "disk", **{f"f{i}": "x" for i in range(50)}})
    no_trace(r)
    assert r.status_code in (400, 413)
    r = alice.client.post("/admin/health/run", files={"check": ("a.txt", b"disk")},
                          data={"csrf": alice.csrf}, follow_redirects=False)
    no_trace(r)
    r = alice.post("/admin/health/run", {"check": EVIL})
    assert r.status_code == 400
    assert_escaped(r.text)


# --- the overdue batch's confirm form -----------------------------------------------------------


def keys_of(html: str) -> list[str]:
    import html as h
    return [h.unescape(k) for k in re.findall(r'name="letter" value="([^"]*)"', html)]


def test_a_tampered_batch_sends_nothing(world, users):
    carol = users("carol")
    keys = keys_of(carol.get("/ledger/overdue").text)
    assert keys, "no letter in the preview"
    before = len([e for e in world[0].reporter.events if e.action == "generate" and e.outcome == "ok"])
    first = json.loads(keys[0])
    other = [("C002" if first[0] != "C002" else "C001"), *first[1:]]
    tampered = [
        [json.dumps(other, ensure_ascii=False), *keys[1:]],                      # another client
        [json.dumps([first[0], 1 if first[1] != 1 else 3, first[2], first[3]], ensure_ascii=False),
         *keys[1:]],                                                              # another level
        [json.dumps([first[0], first[1], [*first[2], "INV-FAKE"], first[3]], ensure_ascii=False), *keys[1:]],
        keys[1:],                                                                 # one left out
        [*keys, keys[0]],                                                         # one twice
        [*keys, json.dumps(["C003", 1, ["x"], "1.00"])],                         # one more
        ["not json"] * 300,
    ]
    for letters in tampered:
        r = carol.client.post("/ledger/overdue", data={"csrf": carol.csrf, "letter": letters}, follow_redirects=False)
        no_trace(r)
        assert r.status_code in (400, 409), r.status_code
    after = len([e for e in world[0].reporter.events if e.action == "generate" and e.outcome == "ok"])
    assert after == before
    assert not any(x.letters for x in [receivables.read_ledger(world[0].login("carol"), c)
                                       for c in ("C001", "C002", "C003")])


def test_a_refused_batch_is_recorded(world, users):
    """The batch refused because its letters are not the preview's: an audit
    event (outcome error/denied), so an attempt to send other letters shows."""
    carol = users("carol")
    keys = keys_of(carol.get("/ledger/overdue").text)
    before = len(world[0].reporter.events)
    forged = json.dumps(["C002", 3, ["INV-0077"], "5000.00"])
    r = carol.client.post("/ledger/overdue", data={"csrf": carol.csrf, "letter": [forged, *keys[1:]]},
                          follow_redirects=False)
    assert r.status_code == 409
    new = [e for e in world[0].reporter.events[before:] if e.user == "carol" and e.outcome != "ok"]
    assert new, "the refused batch left no audit event"


# --- bad values in the ledger's forms ------------------------------------------------------------


@pytest.mark.parametrize("amount", ["NaN", "-0", "Infinity", "-1", "1e999999", "0x10", "", " ", "1" * 5000,
                                    "1,2,3.4.5", "sNaN", "1e-9"])
def test_bad_amounts_are_a_400(world, users, amount):
    r = users("carol").post("/ledger/C002/invoices", {"invoice": f"INV-A{abs(hash(amount)) % 10 ** 6}",
                                                      "amount": amount, "due": "2026-09-01"})
    no_trace(r)
    assert r.status_code == 400, (amount, r.status_code)


def test_arabic_indic_digits_are_not_taken_for_another_amount(world, users):
    """``Decimal('١٢٣')`` is 123: either refused, or taken as exactly 123.00."""
    r = users("carol").post("/ledger/C002/invoices", {"invoice": "INV-ARABIC", "amount": "١٢٣",
                                                      "due": "2026-09-01"})
    no_trace(r)
    if r.status_code == 303:
        [row] = [i for i in receivables.list_invoices(world[0].login("carol"), "C002") if i.invoice == "INV-ARABIC"]
        assert row.amount == "123.00"
    else:
        assert r.status_code == 400


@pytest.mark.parametrize("due", ["2026-02-30", "2026-13-01", "26-1-1", "", "2026-02-29", "0000-01-01",
                                 "9999-12-31T00:00", "２０２６-０３-０１"])
def test_bad_due_dates_are_a_400(users, due):
    r = users("carol").post("/ledger/C002/invoices", {"invoice": f"INV-D{abs(hash(due)) % 10 ** 6}", "amount": "5.00",
                                                      "due": due})
    no_trace(r)
    assert r.status_code == 400, (due, r.status_code)


@pytest.mark.parametrize("data", [
    {"invoice": "INV-0077", "amount": "5000.01"}, {"invoice": "INV-0077", "amount": "-0"},
    {"invoice": "INV-0077", "amount": "NaN"}, {"invoice": "INV-NONE", "amount": "1.00"},
    {"invoice": "INV-0077", "amount": "1.00", "paid_on": "2026-02-30"},
])
def test_bad_payments_are_refused(world, users, data):
    r = users("carol").post("/ledger/C002/payments", data)
    no_trace(r)
    assert r.status_code in (400, 404, 409), (data, r.status_code)
    [row] = [i for i in receivables.list_invoices(world[0].login("carol"), "C002") if i.invoice == "INV-0077"]
    assert row.paid == "0.00"


def test_a_client_code_in_the_url_that_is_not_one(users):
    carol = users("carol")
    for code in ("C999", "..%2F..%2Fetc", "%00", "x" * 5000, "C001%0D%0ASet-Cookie:x=1"):
        r = carol.get(f"/ledger/{code}")
        no_trace(r)
        assert r.status_code in (400, 404), (code, r.status_code)
        r = carol.post(f"/ledger/{code}/invoices", {"invoice": "INV-P", "amount": "1.00", "due": "2026-09-01"})
        no_trace(r)
        assert r.status_code in (400, 404), (code, r.status_code)
    r = carol.get("/ledger", params={"client": "C001\r\nSet-Cookie: x=1"})
    assert r.status_code == 303 and "\n" not in r.headers["location"] and "set-cookie" not in {
        k.lower() for k in r.headers if k.lower() == "set-cookie"}


def test_oversized_and_malformed_forms_are_a_400(users):
    carol = users("carol")
    for url in ("/ledger/C002/invoices", "/ledger/overdue", "/paperwork/dunning-letter"):
        r = carol.post(url, {f"f{i}": "x" for i in range(600)})
        no_trace(r)
        assert r.status_code in (400, 413), (url, r.status_code)
        r = carol.client.post(url, content=b"--x\r\nbroken", follow_redirects=False,
                              headers={"content-type": "multipart/form-data; boundary=x", "x-csrf-token": carol.csrf})
        no_trace(r)
        r = carol.client.post(url, files={"f": ("a.txt", b"x" * 10)}, data={"csrf": carol.csrf},
                              follow_redirects=False)
        no_trace(r)
        assert r.status_code in (400, 413), (url, r.status_code)


def test_the_paperwork_form_with_odd_values(world, users):
    carol = users("carol")
    for data in ({"client": "C999"}, {"client": "../C001"}, {"client": "C001", "level": "4"},
                 {"client": "C001", "level": "-1"}, {"client": "C001", "level": "١"},
                 {"client": "C001", "p:__class__": "x"}, {"client": "C001", "p:a.b.c.d.e.f": "x"},
                 {"client": "C001", "l:x:999:y": "z"}, {"client": EVIL}):
        r = carol.post("/paperwork/dunning-letter", {"do": "preview", **data})
        no_trace(r)
        assert r.status_code in (200, 400, 403, 404), (data, r.status_code)
        assert_escaped(r.text)
    r = users("bob").post("/paperwork/contract-amendment", {"do": "preview", "client": "C002",
                                                            "contract": world[1]["C001"]})
    no_trace(r)
    assert r.status_code in (400, 403, 404)
