"""The receivables pages (issue 19 point 2) over HTTP: every client's ledger
and one client's, entering invoices and payments (partial too), the overdue
batch previewed then run, the age chart; refusals for the departments that
may not act (recorded), and bad input answered with a message and its status,
nothing written."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from starlette.testclient import TestClient

from archive_manager import clients, receivables, standing
from archive_manager.runtime import Runtime
from archive_manager.server.app import create_app
from archive_manager.server.web import ServerSettings
from tests.conftest import COMPANY, sign_letterhead
from tests.server.conftest import page_sign_in

TODAY = "2026-11-01"


def seed(archive) -> None:
    """C001: INV-1 (100,000.00 due 2026-09-01, 20,000.00 paid: 61 days overdue) and INV-2 (not yet due);
    C002: INV-3 (12,345.67, 12 days overdue); C003 has no invoice. The letterhead has the bank
    account a dunning letter prints."""
    sign_letterhead(archive, COMPANY + 'bank = "工商银行北京分行"\naccount = "0200 0000 0000 0000"\n')
    archive.home.runtime = Runtime(now=lambda: datetime.fromisoformat(TODAY).replace(tzinfo=timezone.utc))
    alice = archive.login("alice")
    clients.add_client(alice, "C002", "上海明月广告有限公司")
    clients.add_client(alice, "C003", "广州南方日化有限公司")
    carol = archive.login("carol")
    receivables.add_invoice(carol, "C001", "INV-1", "100000", "2026-09-01")
    receivables.record_payment(carol, "C001", "INV-1", "20000", "2026-10-01")
    receivables.add_invoice(carol, "C001", "INV-2", "50000", "2026-12-01")
    receivables.add_invoice(carol, "C002", "INV-3", "12345.67", "2026-10-20")
    standing.reassess_credit(carol, "C001", "A", "100000", "近期回款放缓，额度维持 10 万元。")  # now over it


@pytest.fixture
def app(chain, clock):
    seed(chain)
    return create_app(chain.home, ServerSettings(), clock=clock, failed_delay=0.0)


@pytest.fixture
def client(app):
    with TestClient(app, base_url="https://testserver") as c:
        yield c


def as_user(client: TestClient, user: str) -> str:
    """Signs ``user`` in; the CSRF token of their pages."""
    client.cookies.clear()
    r = page_sign_in(client, user, f"{user}-pw")
    assert r.status_code == 303, r.text
    return client.get("/account").text.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def main(html: str) -> str:
    return html.split("<main>", 1)[1]


def invoices(archive, client="C001") -> dict:
    return {n: (str(i.amount), [(str(p.amount), p.paid_on.isoformat()) for p in i.payments])
            for n, i in receivables.read_ledger(archive.login("carol"), client).invoices.items()}


def events(archive, action: str) -> list:
    return [e for e in archive.reporter.events if e.action == action]


# --- reading -----------------------------------------------------------------------


def test_every_clients_ledger_with_totals_ages_and_the_chart(client):
    as_user(client, "carol")
    page = client.get("/ledger")
    assert page.status_code == 200
    assert 'href="/ledger"' in page.text.split("</nav>")[0]
    text = main(page.text)
    summary = text.split('class="list ledger-summary"', 1)[1].split("</table>", 1)[0]
    assert "北京星辰传媒有限公司" in summary and "130,000.00" in summary and "80,000.00" in summary
    assert "上海明月广告有限公司" in summary and "12,345.67" in summary and "61 天" in summary
    c001 = summary.split("C001", 1)[1].split("</tr>", 1)[0]
    assert "100,000.00" in c001 and "超出信用额度" in c001 and 'class="overdue over"' in summary
    assert "未设定" in summary.split("C002", 1)[1].split("</tr>", 1)[0]
    assert "广州南方日化有限公司" not in summary  # no invoice: only in the picker
    assert '<option value="C003">C003 广州南方日化有限公司</option>' in text
    assert '<svg class="chart"' in text and "逾期61–90天" in text and "style=" not in text
    ages = text.split('class="list ledger-ages"', 1)[1].split("</table>", 1)[0]
    assert [c.split("<")[0] for c in ages.split('<td class="num')[1:]] == [
        '">50,000.00', '">12,345.67', '">0.00', '">80,000.00', '">0.00', ' total">142,345.67']
    rows = text.split('class="list ledger-invoices"', 1)[1]
    assert rows.index("INV-1") < rows.index("INV-3") < rows.index("INV-2")  # most overdue first
    assert 'class="age-days_61_90 overdue"' in rows and 'class="age-current"' in rows
    assert client.get("/ledger?client=C003", follow_redirects=False).headers["location"] == "/ledger/C003"


def test_one_clients_ledger_with_payments_levels_and_the_forms(client):
    as_user(client, "carol")
    text = main(client.get("/ledger/C001").text)
    assert "北京星辰传媒有限公司" in text and "截至 2026-11-01" in text
    row = text.split("INV-1", 1)[1].split("</tr>", 1)[0]
    assert "100,000.00" in row and "20,000.00" in row and "80,000.00" in row and ">61<" in row
    assert "20,000.00 · 2026-10-01" in row
    figures = text.split('class="ledger-figures"', 1)[1].split("</dl>", 1)[0]
    assert "130,000.00" in figures and "80,000.00" in figures and "3级·最后催告函" in figures
    assert "100,000.00" in figures and "超出信用额度" in figures
    assert "尚未发送催收函" in text
    assert 'action="/ledger/C001/invoices"' in text and 'action="/ledger/C001/payments"' in text
    assert "不能查看该客户的合同" in text  # credit holds no contract key: no picker
    en = main(client.get("/ledger/C001?lang=en").text)
    assert "Receivables" in en and "Record a payment" in en and "3 · final notice" in en


def test_management_reads_but_sees_no_form_and_its_post_is_refused_and_recorded(client, chain):
    csrf = as_user(client, "mgmt")
    text = main(client.get("/ledger/C001").text)
    assert "80,000.00" in text and "<form class=\"ledger-form\"" not in text and "不能登记发票或收款" in text
    before = invoices(chain)
    r = client.post("/ledger/C001/invoices", data={"csrf": csrf, "invoice": "INV-9", "amount": "1", "due": TODAY},
                    follow_redirects=False)
    assert r.status_code == 403 and "may not file" in r.text
    r = client.post("/ledger/C001/payments", data={"csrf": csrf, "invoice": "INV-1"}, follow_redirects=False)
    assert r.status_code == 403
    assert invoices(chain) == before
    assert [e.outcome for e in events(chain, "ledger-add")][-1] == "denied"
    assert [e.outcome for e in events(chain, "ledger-paid")][-1] == "denied"
    overdue = main(client.get("/ledger/overdue").text)
    assert "ledger-run" not in overdue and "只能查看预览" in overdue
    r = client.post("/ledger/overdue", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 403 and events(chain, "generate")[-1].outcome == "denied"


@pytest.mark.parametrize("user", ["bob", "mike"])  # legal, marketing: no credit class
def test_departments_without_the_credit_class_are_refused_and_recorded(client, chain, user):
    csrf = as_user(client, user)
    assert 'href="/ledger"' not in client.get("/account").text.split("</nav>")[0]
    for url in ("/ledger", "/ledger/C001", "/ledger/overdue"):
        r = client.get(url)
        assert r.status_code == 403 and 'class="error"' in r.text, url
    denied = [e for e in events(chain, "ledger-list") if e.user == user]
    assert len(denied) == 3 and {e.outcome for e in denied} == {"denied"}
    before = invoices(chain)
    r = client.post("/ledger/C001/invoices", data={"csrf": csrf, "invoice": "INV-9", "amount": "1", "due": TODAY},
                    follow_redirects=False)
    assert r.status_code == 403
    r = client.post("/ledger/C001/payments", data={"csrf": csrf, "invoice": "INV-1"}, follow_redirects=False)
    assert r.status_code == 403
    r = client.post("/ledger/overdue", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 403
    assert invoices(chain) == before
    assert [e.outcome for e in events(chain, "ledger-add") if e.user == user] == ["denied"]
    assert [e.outcome for e in events(chain, "ledger-paid") if e.user == user] == ["denied"]
    assert [e.outcome for e in events(chain, "generate") if e.user == user] == ["denied"]


# --- entering invoices and payments --------------------------------------------------


def test_an_invoice_then_a_partial_payment_then_the_rest(client, chain):
    csrf = as_user(client, "carol")
    r = client.post("/ledger/C003/invoices", data={"csrf": csrf, "invoice": "FP-2026-007", "amount": "1,250,000.5",
                                                    "due": "2026-10-15", "contract": ""}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ledger/C003?done=invoice&invoice=FP-2026-007"
    text = main(client.get(r.headers["location"]).text)
    assert "发票 FP-2026-007 已登记" in text and "1,250,000.50" in text and ">17<" in text
    r = client.post("/ledger/C003/payments", data={"csrf": csrf, "invoice": "FP-2026-007", "amount": "250000",
                                                    "paid_on": "2026-10-20"}, follow_redirects=False)
    assert r.status_code == 303
    text = main(client.get(r.headers["location"]).text)
    assert "发票 FP-2026-007 的收款已登记" in text and "1,000,000.50" in text and "250,000.00 · 2026-10-20" in text
    r = client.post("/ledger/C003/payments", data={"csrf": csrf, "invoice": "FP-2026-007", "amount": "",
                                                    "paid_on": ""}, follow_redirects=False)  # the rest, today
    assert r.status_code == 303
    assert invoices(chain, "C003") == {"FP-2026-007": ("1250000.50", [("250000.00", "2026-10-20"),
                                                                      ("1000000.50", TODAY)])}
    assert "没有未结清的发票" in main(client.get("/ledger/C003").text)


BAD = [
    ("invoices", {"invoice": "INV-9", "amount": "12x", "due": "2026-12-01"}, 400, "invalid amount"),
    ("invoices", {"invoice": "INV-9", "amount": "-5", "due": "2026-12-01"}, 400, "out of range"),
    ("invoices", {"invoice": "INV-9", "amount": "5", "due": "2026-02-30"}, 400, "invalid date"),
    ("invoices", {"invoice": "INV-9", "amount": "5", "due": ""}, 400, "invalid date"),
    ("invoices", {"invoice": "", "amount": "5", "due": "2026-12-01"}, 400, "1 to 64 characters"),
    ("invoices", {"invoice": "INV-1", "amount": "5", "due": "2026-12-01"}, 409, "already in the ledger"),
    ("invoices", {"invoice": "INV-9", "amount": "5", "due": "2026-12-01", "contract": "C001-aaaaaaaa"}, 400,
     "you may read"),
    ("payments", {"invoice": "INV-404", "amount": "5"}, 404, "no invoice"),
    ("payments", {"invoice": "INV-1", "amount": "80000.01"}, 400, "between 0.01 and 80000.00"),
    ("payments", {"invoice": "INV-1", "amount": "abc"}, 400, "invalid amount"),
    ("payments", {"invoice": "INV-1", "amount": "5", "paid_on": "2026-13-01"}, 400, "invalid date"),
]


@pytest.mark.parametrize("form,data,status,message", BAD)
def test_bad_input_is_a_message_and_its_status_and_nothing_is_written(client, chain, form, data, status, message):
    csrf = as_user(client, "carol")
    before = invoices(chain)
    r = client.post(f"/ledger/C001/{form}", data={"csrf": csrf, **data}, follow_redirects=False)
    assert r.status_code == status and message in r.text, r.text[-2000:]
    assert 'class="error"' in r.text and "Traceback" not in r.text
    assert 'class="ledger-form"' in r.text  # the page again, with its forms
    if form == "invoices" and data["invoice"]:
        assert f'value="{data["invoice"]}"' in r.text  # what was typed stays
    assert invoices(chain) == before


def test_a_paid_invoice_an_unknown_client_and_a_forged_form(client, chain):
    csrf = as_user(client, "carol")
    receivables.record_payment(chain.login("carol"), "C002", "INV-3")
    r = client.post("/ledger/C002/payments", data={"csrf": csrf, "invoice": "INV-3"}, follow_redirects=False)
    assert r.status_code == 409 and "already paid" in r.text
    r = client.post("/ledger/C999/invoices", data={"csrf": csrf, "invoice": "X", "amount": "1", "due": TODAY},
                    follow_redirects=False)
    assert r.status_code == 404
    assert client.get("/ledger/C999").status_code == 404
    before = invoices(chain)
    r = client.post("/ledger/C001/invoices", data={"csrf": "forged", "invoice": "INV-9", "amount": "1", "due": TODAY},
                    follow_redirects=False)
    assert r.status_code == 403 and invoices(chain) == before


def test_the_contract_picker_offers_the_clients_contracts_the_user_may_read(client, chain, filed):
    csrf = as_user(client, "alice")  # the archive department reads contracts and files credit
    text = main(client.get("/ledger/C001").text)
    assert f'<option value="{filed["contract"]}"' in text
    r = client.post("/ledger/C001/invoices", data={"csrf": csrf, "invoice": "INV-7", "amount": "10",
                                                    "due": "2026-12-31", "contract": filed["contract"]},
                    follow_redirects=False)
    assert r.status_code == 200  # entered, and the page says C001 is over its credit limit
    assert "发票 INV-7 已登记" in r.text and "exceed its credit limit (100000.00)" in r.text
    assert receivables.read_ledger(chain.login("carol"), "C001").get("INV-7").contract == filed["contract"]
    csrf = as_user(client, "carol")  # holds no contract key: cannot name one, even a real one
    r = client.post("/ledger/C001/invoices", data={"csrf": csrf, "invoice": "INV-8", "amount": "10",
                                                    "due": "2026-12-31", "contract": filed["contract"]},
                    follow_redirects=False)
    assert r.status_code == 400 and "INV-8" not in invoices(chain)


# --- the overdue batch -------------------------------------------------------------


def letter_keys(html: str) -> list[str]:
    import html as h
    return [h.unescape(v.split('"', 1)[0]) for v in html.split('name="letter" value="')[1:]]


def test_the_batch_is_previewed_then_runs_exactly_that(client, chain):
    csrf = as_user(client, "carol")
    page = client.get("/ledger/overdue")
    assert page.status_code == 200
    plan = main(page.text).split('class="list ledger-plan"', 1)[1].split("</table>", 1)[0]
    c1, c2 = plan.split("<tr class=")[1:3]
    assert "C001" in c1 and "将发送" in c1 and "3级·最后催告函" in c1 and "INV-1" in c1 and "80,000.00" in c1
    assert "INV-2" not in c1  # not yet due
    assert "C002" in c2 and "1级·付款提醒函" in c2 and "12,345.67" in c2
    assert "确认发送 2 封催收函" in page.text
    keys = letter_keys(page.text)
    assert len(keys) == 2 and events(chain, "generate") == []  # nothing sent by the preview
    r = client.post("/ledger/overdue", data={"csrf": csrf, "letter": keys}, follow_redirects=False)
    assert r.status_code == 200, r.text[-1500:]
    assert "已发送 2 封催收函" in r.text
    links = [v.split('"', 1)[0] for v in r.text.split('<a href="/documents/')[1:]]
    assert len(links) == 2 and all(d.startswith(("C001-", "C002-")) for d in links)
    assert [e.outcome for e in events(chain, "generate")] == ["ok", "ok"]
    text = main(client.get("/ledger/C001").text)
    letters = text.split('class="list ledger-letters"', 1)[1].split("</table>", 1)[0]
    assert TODAY in letters and "3级·最后催告函" in letters and f'href="/documents/{links[0]}"' in letters
    assert "INV-1" in letters
    inv = text.split('class="list ledger-invoices"', 1)[1].split("INV-2", 1)[0]
    assert "3级·最后催告函" in inv  # the level INV-1 is at
    # the same day again: both skipped, no button; an old form sends nothing
    again = client.get("/ledger/overdue").text
    assert "ledger-run" not in again and again.count("已发送最后催告函") == 1 and "没有需要发送的催收函" in again
    r = client.post("/ledger/overdue", data={"csrf": csrf, "letter": keys}, follow_redirects=False)
    assert r.status_code == 409 and "not the ones the preview showed" in r.text
    assert [e.outcome for e in events(chain, "generate")] == ["ok", "ok", "error"]  # the refusal on record


def test_a_batch_whose_plan_changed_since_the_preview_sends_nothing(client, chain):
    csrf = as_user(client, "carol")
    keys = letter_keys(client.get("/ledger/overdue").text)
    receivables.record_payment(chain.login("carol"), "C002", "INV-3", "345.67")  # the total changed
    r = client.post("/ledger/overdue", data={"csrf": csrf, "letter": keys}, follow_redirects=False)
    assert r.status_code == 409 and "12,000.00" in r.text  # the preview again, as it is now
    r = client.post("/ledger/overdue", data={"csrf": csrf, "letter": keys[:1]}, follow_redirects=False)
    assert r.status_code == 409  # a part of the preview is not the preview either
    assert [(e.outcome, e.reason) for e in events(chain, "generate")] == [("error", "conflict")] * 2
    assert receivables.read_ledger(chain.login("carol"), "C001").letters == []


def test_a_form_over_its_limits_is_a_message(client, chain):
    csrf = as_user(client, "carol")
    before = invoices(chain)
    r = client.post("/ledger/C001/invoices", data={"csrf": csrf, "invoice": "INV-9", "amount": "1" * 5000,
                                                    "due": TODAY}, follow_redirects=False)
    assert r.status_code == 400 and "too large" in r.text and invoices(chain) == before
