"""The admission pages (issue 18) over HTTP: the queue per department, the
application form, an application's page with its documents and opinions,
each action and its refusals, a client's status and credit on its page."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from archive_manager import accounts
from archive_manager.server.app import create_app
from archive_manager.server.web import ServerSettings
from tests.server.conftest import page_sign_in

APPLICATION = {"name": "杭州味道食品有限公司", "legal_rep": "王芳", "address": "上海市浦东新区世纪大道100号",
               "contact": "李雷", "needs": "春节档户外大屏投放，覆盖上海、杭州", "budget": "800000",
               "business_scope": "食品饮料销售"}
NO_FILE = [("file_1", ("", b"", "application/octet-stream"))]  # what a browser sends for a file input left empty


def with_auditor(chain) -> None:
    """The admission chain's users (tests/conftest.py), and an auditor."""
    accounts.add_user(chain.login("alice"), "audrey", ["audit"], "audrey-pw")


@pytest.fixture
def app(chain, clock):
    with_auditor(chain)
    return create_app(chain.home, ServerSettings(), clock=clock, failed_delay=0.0)


@pytest.fixture
def client(app):
    with TestClient(app, base_url="https://testserver") as c:
        yield c


def as_user(client: TestClient, user: str) -> str:
    """Signs ``user`` in (the client's cookie is now theirs); the page's CSRF token."""
    client.cookies.clear()  # whoever was signed in stays so, in another browser
    r = page_sign_in(client, user, f"{user}-pw")
    assert r.status_code == 303, r.text
    return client.get("/applications").text.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def post(client: TestClient, url: str, csrf: str, data: dict, files=None):
    return client.post(url, data={"csrf": csrf, **data}, files=files or NO_FILE, follow_redirects=False)


def start(client: TestClient, **changes):
    csrf = as_user(client, "erin")
    files = [("type_1", (None, "business-license")),
             ("file_1", ("营业执照.txt", "营业执照 统一社会信用代码".encode(), "text/plain"))]
    return post(client, "/applications/new", csrf, {**APPLICATION, **changes}, files)


def review(client: TestClient, user: str, decision: str, opinion: str, **sets):
    csrf = as_user(client, user)
    return post(client, "/applications/A0001/review", csrf, {"decision": decision, "opinion": opinion, **sets})


def main(html: str) -> str:
    return html.split("<main>", 1)[1]


# --- the form ----------------------------------------------------------------------


def test_the_form_is_for_the_applying_department_only(client):
    as_user(client, "erin")
    page = client.get("/applications/new")
    assert page.status_code == 200
    assert 'href="/applications/new"' in page.text.split("</nav>")[0]  # the nav link
    text = main(page.text)
    for label in ("客户名称", "法定代表人", "地址", "业务需求", "预算（元）", "营业执照"):
        assert label in text, label
    assert 'value="credit-report"' not in text  # business holds no credit key: cannot attach a credit report
    assert 'value="marketing-review"' not in text and 'name="credit_limit"' not in text
    csrf = as_user(client, "bob")
    assert 'href="/applications/new"' not in client.get("/applications").text
    refused = client.get("/applications/new")
    assert refused.status_code == 403 and "只有业务部的成员可以提交客户准入申请" in refused.text
    r = post(client, "/applications/new", csrf, APPLICATION)
    assert r.status_code == 403 and "Traceback" not in r.text
    assert client.get("/applications?view=all").text.count('href="/applications/A') == 0


def test_an_application_is_started_from_the_form(client):
    r = start(client)
    assert r.status_code == 303 and r.headers["location"] == "/applications/A0001?done=started"
    page = client.get(r.headers["location"])
    text = main(page.text)
    assert page.status_code == 200 and "申请已提交" in text
    assert "杭州味道食品有限公司" in text and "春节档户外大屏投放" in text and "800,000.00" in text
    assert "营业执照.txt" in text and 'href="/documents/C002-' in text
    assert "step-current" in text and "初审" in text
    assert 'name="decision"' not in text and "等待市场部处理" in text  # erin applies, does not review


def test_a_missing_value_shows_the_form_again_with_what_was_typed(client):
    csrf = as_user(client, "erin")
    r = post(client, "/applications/new", csrf, {**APPLICATION, "needs": ""})
    assert r.status_code == 400 and "needs" in r.text and "杭州味道食品有限公司" in r.text
    assert 'class="error"' in r.text and "Traceback" not in r.text


def test_a_form_without_its_csrf_token_is_refused(client):
    as_user(client, "erin")
    r = post(client, "/applications/new", "forged", APPLICATION)
    assert r.status_code == 403
    assert client.get("/applications?view=all").text.count('href="/applications/A') == 0


def test_an_attachment_of_a_class_the_user_does_not_hold_is_refused(client):
    csrf = as_user(client, "erin")
    files = [("type_1", (None, "credit-report")), ("file_1", ("信用报告.txt", b"report", "text/plain"))]
    r = post(client, "/applications/new", csrf, APPLICATION, files)
    assert r.status_code == 403 and "credit" in r.text


# --- the queue -----------------------------------------------------------------


def test_the_queue_shows_what_waits_for_each_department(client):
    start(client)
    as_user(client, "mike")
    mine = main(client.get("/applications").text)
    assert 'href="/applications/A0001"' in mine and "0 天" in mine and "市场部" in mine and "审查中" in mine
    as_user(client, "carol")
    assert 'href="/applications/A0001"' not in main(client.get("/applications").text)
    assert "没有待处理的申请" in client.get("/applications").text
    assert 'href="/applications/A0001"' in client.get("/applications?view=open").text
    as_user(client, "audrey")  # an auditor holds no client's record
    assert client.get("/applications").status_code == 403


# --- reviewing -------------------------------------------------------------------------


def test_only_the_waiting_steps_department_sees_and_uses_the_buttons(client):
    start(client)
    as_user(client, "carol")
    page = main(client.get("/applications/A0001").text)
    assert 'name="decision"' not in page and "等待市场部处理" in page
    r = review(client, "carol", "approve", "跳过初审", credit_rating="A", credit_limit="1")
    assert r.status_code == 403 and "marketing" in r.text and 'class="error"' in r.text
    as_user(client, "mike")
    page = main(client.get("/applications/A0001").text)
    for decision in ("approve", "return", "reject"):
        assert f'name="decision" value="{decision}"' in page
    assert 'name="credit_rating"' not in page  # marketing's step sets nothing
    assert 'name="file_1"' not in page  # and marketing files nothing: no attachment rows


def test_a_full_admission_through_the_pages(client):
    start(client)
    r = review(client, "mike", "approve", "资质齐全，需求合理")
    assert r.status_code == 303 and r.headers["location"] == "/applications/A0001?done=approve"
    as_user(client, "carol")
    page = main(client.get("/applications/A0001").text)
    assert 'name="credit_rating"' in page and '<option value="AAA"' in page and 'name="credit_limit"' in page
    assert 'value="credit-report"' in page and 'value="credit-assessment"' not in page  # its opinion is filed itself
    r = review(client, "carol", "approve", "信用良好")  # the credit step approves with its terms only
    assert r.status_code == 400 and "credit_rating" in r.text and "信用良好" in r.text
    r = review(client, "carol", "approve", "信用良好", credit_rating="A", credit_limit="500000")
    assert r.status_code == 303
    assert review(client, "bob", "approve", "合规").status_code == 303
    r = review(client, "mgmt", "approve", "同意准入")
    assert r.headers["location"] == "/applications/A0001?done=admitted"
    page = main(client.get(r.headers["location"]).text)
    assert "客户已准入" in page and "已准入" in page and 'name="decision"' not in page
    assert page.count("step-done") == 4 and "信用良好" in page and "同意准入" in page
    assert "信用等级：A；信用额度（元）：500,000.00" in page
    client_page = main(client.get("/clients/C002").text)
    assert "status-admitted" in client_page and "500,000.00" in client_page and 'href="/applications/A0001"' in client_page
    assert "准入申请表" in client_page  # the admission form, filed
    as_user(client, "erin")  # the applicant reads no credit nor contract class: told where each opinion is kept
    page = main(client.get("/applications/A0001").text)
    assert "资质齐全" in page and "信用良好" not in page and "合规</p>" not in page
    assert "保存在“信用信息”类别中" in page and "保存在“合同”类别中" in page
    assert "未收应收账款" not in main(client.get("/clients/C002").text)  # business reads no ledger


def test_the_client_page_warns_over_the_credit_limit(client):
    from archive_manager import receivables

    start(client)
    review(client, "mike", "approve", "ok")
    review(client, "carol", "approve", "ok", credit_rating="A", credit_limit="500000")
    review(client, "bob", "approve", "ok")
    review(client, "mgmt", "approve", "ok")
    as_user(client, "carol")
    page = main(client.get("/clients/C002").text)
    assert "未收应收账款（元）" in page and "已超出信用额度" not in page
    carol = client.app.state.home.login("carol", "carol-pw")
    receivables.add_invoice(carol, "C002", "INV-1", "600000", "2027-01-01")
    page = main(client.get("/clients/C002").text)
    assert "600,000.00" in page and "已超出信用额度" in page


def test_returned_resubmitted_and_back_at_the_returning_step(client):
    start(client)
    review(client, "mike", "approve", "ok")
    r = review(client, "carol", "return", "请补充近三年财务报表", credit_rating="B")  # terms typed, then returned
    assert r.headers["location"] == "/applications/A0001?done=return"
    csrf = as_user(client, "erin")
    assert 'href="/applications/A0001"' in main(client.get("/applications").text)  # back in the applicant's queue
    page = main(client.get("/applications/A0001").text)
    # the opinion is kept in class credit, but what a return asks for reaches the applicant
    assert "step-returned" in page and "请补充近三年财务报表" in page
    assert 'action="/applications/A0001/resubmit"' in page and 'value="800000.00"' in page
    r = post(client, "/applications/A0001/resubmit", csrf, {**APPLICATION, "budget": "800000.00"})
    assert r.status_code == 400 and "nothing was changed" in r.text
    other = as_user(client, "mike")  # only the applying department submits again
    assert 'action="/applications/A0001/resubmit"' not in client.get("/applications/A0001").text
    r = post(client, "/applications/A0001/resubmit", other, {**APPLICATION, "budget": "1.00"})
    assert r.status_code == 403 and 'class="error"' in r.text
    csrf = as_user(client, "erin")
    files = [("type_1", (None, "qualification")), ("file_1", ("资质.txt", "广告发布资质".encode(), "text/plain"))]
    r = post(client, "/applications/A0001/resubmit", csrf,
             {**APPLICATION, "budget": "600000.00", "note": "已补充财务报表"}, files)
    assert r.headers["location"] == "/applications/A0001?done=resubmit"
    page = main(client.get("/applications/A0001").text)
    assert "600,000.00" in page and "资质.txt" in page and "补充后重新提交" in page and "step-current" in page
    as_user(client, "carol")
    assert 'href="/applications/A0001"' in main(client.get("/applications").text)


def test_a_rejection_closes_the_application(client):
    start(client)
    r = review(client, "mike", "reject", "需求不符合公司业务方向")
    assert r.headers["location"] == "/applications/A0001?done=reject"
    page = main(client.get("/applications/A0001").text)
    assert "step-rejected" in page and "未通过" in page and 'name="decision"' not in page
    assert 'href="/applications/A0001"' not in main(client.get("/applications?view=open").text)
    assert 'href="/applications/A0001"' in main(client.get("/applications?view=all").text)
    assert review(client, "mike", "approve", "再看一次").status_code == 409
    assert "status-rejected" in client.get("/clients/C002").text


def test_a_review_without_its_csrf_token_is_refused_and_a_long_opinion_is_taken(client):
    start(client)
    as_user(client, "mike")
    r = post(client, "/applications/A0001/review", "forged", {"decision": "approve", "opinion": "ok"})
    assert r.status_code == 403 and "step-done" not in client.get("/applications/A0001").text
    long = "资质齐全，需求合理。" * 800  # 8,000 characters, 24,000 bytes: more than a plain form field holds
    assert review(client, "mike", "approve", long).status_code == 303
    assert long in client.get("/applications/A0001").text


def test_a_bad_decision_and_an_unknown_application(client):
    start(client)
    r = review(client, "mike", "maybe", "嗯")
    assert r.status_code == 400 and "unknown decision" in r.text
    r = client.get("/applications/A0099")
    assert r.status_code == 404 and "A0099" in r.text and "Traceback" not in r.text


def test_an_old_client_shows_admitted_without_credit_terms(client):
    as_user(client, "carol")
    page = main(client.get("/clients/C001").text)
    assert "status-admitted" in page and "尚未评定" in page


def test_the_pages_in_english(client):
    start(client)
    as_user(client, "mike")
    page = client.get("/applications/A0001?lang=en").text
    assert "Admissions" in page and "Return for more information" in page and "in review" in page
