"""Client admission through the policy's four steps (issue 18)."""

from __future__ import annotations

import pytest

from archive_manager import accounts, admission, standing
from archive_manager.admission import Attachment
from archive_manager.errors import AccessDenied, ConflictError, UsageError
from archive_manager.reading import list_documents

APPLICATION = {"legal_rep": "王芳", "address": "上海市浦东新区世纪大道100号", "contact": "李雷",
               "needs": "春节档户外大屏投放，覆盖上海、杭州", "budget": "800000", "business_scope": "食品饮料销售"}


COMPANY = 'name = "北京某某广告有限公司"\naddress = "北京市朝阳区建国路1号"\nphone = "010-1"\n'


@pytest.fixture
def chain(archive):
    cfg = archive.home.settings.config_path
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("[company]\n", "[company]\n" + COMPANY), encoding="utf-8")
    archive.reopen()
    alice = archive.login("alice")
    accounts.add_user(alice, "erin", ["business"], "erin-pw")
    accounts.add_user(alice, "mike", ["marketing"], "mike-pw")
    accounts.add_user(alice, "mgmt", ["management"], "mgmt-pw")
    return archive


def start(chain, **kw):
    erin = chain.login("erin")
    return admission.start_application(erin, "杭州味道食品有限公司", dict(APPLICATION), [
        Attachment("营业执照.txt", "营业执照 统一社会信用代码 91330100MA2B000000".encode(), "business-license")], **kw)


def test_full_admission_through_four_departments(chain):
    started = start(chain)
    assert started.client == "C002" and started.application == "A0001" and started.waiting == "marketing"
    r1 = admission.review_application(chain.login("mike"), "A0001", "approve", "资质齐全，需求合理")
    assert (r1.state, r1.waiting) == ("pending", "credit")
    r2 = admission.review_application(chain.login("carol"), "A0001", "approve", "信用良好",
                                      {"rating": "A", "limit": "500000"})
    assert r2.waiting == "legal"
    r3 = admission.review_application(chain.login("bob"), "A0001", "approve", "合规")
    r4 = admission.review_application(chain.login("mgmt"), "A0001", "approve", "同意准入")
    assert r4.state == "admitted" and r4.admission_form is not None
    alice = chain.login("alice")
    view = admission.show_application(alice, "A0001")
    assert view.status == "admitted" and [h.decision for h in view.history if h.kind == "review"] == ["approve"] * 4
    assert all(h.opinion for h in view.history if h.kind == "review")  # alice reads every class
    st = standing.read_standing(alice, "C002")
    assert (st.status, st.credit.rating, st.credit.limit) == ("admitted", "A", "500000.00")
    types = {r.type for r in list_documents(alice, "C002")}
    assert {"client-application", "business-license", "marketing-review", "credit-assessment", "legal-review",
            "admission-decision", "admission-form"} <= types


def test_wrong_department_and_order_refused_and_recorded(chain):
    start(chain)
    with pytest.raises(AccessDenied):
        admission.review_application(chain.login("carol"), "A0001", "approve", "跳过初审", {"rating": "A",
                                                                                          "limit": "1"})
    assert chain.reporter.events[-1].outcome == "denied"
    assert chain.reporter.events[-1].action == "admission-review"


def test_return_and_resubmit_restarts_at_the_returning_step(chain):
    start(chain)
    admission.review_application(chain.login("mike"), "A0001", "approve", "ok")
    admission.review_application(chain.login("carol"), "A0001", "return", "请补充近三年财务报表")
    with pytest.raises(ConflictError):
        admission.review_application(chain.login("bob"), "A0001", "approve", "ok")
    done = admission.resubmit_application(chain.login("erin"), "A0001", {"budget": "600000"})
    assert done.waiting == "credit"
    view = admission.show_application(chain.login("erin"), "A0001")
    assert view.waiting == "credit" and view.fields["budget"] == "600000.00"


def test_reject_closes(chain):
    start(chain)
    admission.review_application(chain.login("mike"), "A0001", "reject", "需求不符合公司业务方向")
    view = admission.show_application(chain.login("alice"), "A0001")
    assert view.state == "rejected" and view.status == "rejected" and view.actions == []
    assert admission.list_applications(chain.login("alice")) == []


def test_credit_step_needs_its_terms(chain):
    start(chain)
    admission.review_application(chain.login("mike"), "A0001", "approve", "ok")
    with pytest.raises(UsageError):
        admission.review_application(chain.login("carol"), "A0001", "approve", "ok")


def test_queue_per_department(chain):
    start(chain)
    assert [r.application for r in admission.list_applications(chain.login("mike"), mine=True)] == ["A0001"]
    assert admission.list_applications(chain.login("carol"), mine=True) == []
