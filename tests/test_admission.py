"""Client admission through the policy's four steps (issue 18)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from archive_manager import accounts, admission, clients, reading, receivables, standing
from archive_manager.admission import Attachment
from archive_manager.decisions import append_entry
from archive_manager.errors import AccessDenied, ConflictError, IntegrityError, UsageError
from archive_manager.reading import list_documents
from archive_manager.runtime import Runtime
from archive_manager.verify import verify_vault

APPLICATION = {"legal_rep": "王芳", "address": "上海市浦东新区世纪大道100号", "contact": "李雷",
               "needs": "春节档户外大屏投放，覆盖上海、杭州", "budget": "800000", "business_scope": "食品饮料销售"}


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
    admission.review_application(chain.login("bob"), "A0001", "approve", "合规")
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


# --- what verify finds -----------------------------------------------------------


def admitted(chain):
    start(chain)
    admission.review_application(chain.login("mike"), "A0001", "approve", "资质齐全")
    admission.review_application(chain.login("carol"), "A0001", "approve", "信用良好", {"rating": "A",
                                                                                     "limit": "500000"})
    admission.review_application(chain.login("bob"), "A0001", "approve", "合规")
    admission.review_application(chain.login("mgmt"), "A0001", "approve", "同意准入")


def tamper(chain, user, code, cls, change, base=False):
    """An insider holding the class key writes the slot's metadata directly
    (no operation refuses it); ``base``: as a whole new base."""
    s = chain.login(user)
    with s.recorded("tamper"), s.transaction() as tx:
        slot, created = s.slot_to_write(code, cls)
        change(slot, s)
        s.stage_slot_base(tx, slot) if base else s.stage_slot(tx, slot, created)


def problems(chain):
    return [p.problem for p in verify_vault(chain.login("alice")).problems]


def test_verify_clean_after_admission(chain):
    admitted(chain)
    assert problems(chain) == []


def test_verify_finds_an_altered_decision(chain):
    admitted(chain)

    def flip(slot, s):
        entries = [dict(e) for e in slot.meta["decisions"]]
        entries[2]["sets"] = {"credit_rating": "AAA", "credit_limit": "90000000.00"}  # credit's terms raised
        slot.meta["decisions"] = entries
    tamper(chain, "erin", "C002", "basic", flip)
    found = problems(chain)
    assert any("decision 3" in p and "signature" in p for p in found), found
    with pytest.raises(IntegrityError):
        standing.read_standing(chain.login("alice"), "C002")


def test_verify_finds_an_opinion_forged_by_a_user_of_another_department(chain):
    start(chain)

    def forge(slot, s):  # erin (business, holds basic) signs a marketing approval herself
        entries = list(slot.meta["decisions"])
        app = entries[0]
        slot.meta["decisions"] = entries + [append_entry(
            entries, "review", {"application": "A0001", "step": "marketing", "decision": "approve",
                                "content": app["content"], "opinion": {"doc": "x", "version": 1, "sha256": "0" * 64,
                                                                       "class": "business"}},
            user="erin", department="marketing", time="2026-12-07T00:00:00Z", vault_id=s.vault.vault_id,
            dossier=slot.dossier, sign=s.keyring.sign)]
    tamper(chain, "erin", "C002", "basic", forge)
    assert any("not a member of 'marketing'" in p for p in problems(chain))
    with pytest.raises(IntegrityError):  # and nobody can act on it
        admission.review_application(chain.login("carol"), "A0001", "approve", "x", {"rating": "A", "limit": "1"})


def test_verify_finds_an_altered_opinion_document(chain):
    admitted(chain)

    def swap(slot, s):
        doc = next(d for d in slot.documents.values() if d.get("type") == "legal-review")
        doc["versions"][0]["sha256"] = "0" * 64
    tamper(chain, "bob", "C002", "contract", swap, base=True)
    assert any("is not the one signed" in p for p in problems(chain)), problems(chain)


def test_verify_finds_a_removed_decision(chain):
    admitted(chain)
    tamper(chain, "erin", "C002", "basic",
           lambda slot, s: slot.meta.__setitem__("decisions", slot.meta["decisions"][:2] + slot.meta["decisions"][3:]))
    assert any("out of its place" in p for p in problems(chain))


def test_verify_finds_a_credit_limit_raised_in_the_profile(chain):
    admitted(chain)
    tamper(chain, "carol", "C002", "basic",
           lambda slot, s: slot.meta.__setitem__("profile", {**slot.meta["profile"], "credit_limit": "9000000.00"}))
    assert any("credit_limit" in p for p in problems(chain))


# --- the chain as policy ---------------------------------------------------------


def test_a_step_added_in_policy_applies_to_new_applications(chain):
    start(chain)  # A0001 under the four steps
    text = (chain.root / "policies" / "admission.toml").read_text(encoding="utf-8")
    text = text.replace('[[admission.steps]]\nid = "management"', '[[admission.steps]]\nid = "archive-check"\n'
                        'name = "归档审核"\ndepartment = "archive"\nopinion_type = "admission-decision"\n\n'
                        '[[admission.steps]]\nid = "management"')
    (chain.root / "policies" / "admission.toml").write_text(text, encoding="utf-8")
    accounts.sync_policy(chain.login("alice", check_policy_files=False))
    second = start(chain)
    view = admission.show_application(chain.login("alice"), second.application)
    assert [s["id"] for s in view.steps] == ["marketing", "credit", "legal", "archive-check", "management"]
    first = admission.show_application(chain.login("alice"), "A0001")
    assert [s["id"] for s in first.steps] == ["marketing", "credit", "legal", "management"]
    for app in ("A0002",):
        admission.review_application(chain.login("mike"), app, "approve", "ok")
        admission.review_application(chain.login("carol"), app, "approve", "ok", {"rating": "A", "limit": "1"})
        admission.review_application(chain.login("bob"), app, "approve", "ok")
        with pytest.raises(AccessDenied):
            admission.review_application(chain.login("mgmt"), app, "approve", "ok")
        r = admission.review_application(chain.login("alice"), app, "approve", "档案齐全")
        assert r.waiting == "management"
    assert problems(chain) == []


# --- status, credit and the ledger -----------------------------------------------


def test_status_changes_are_signed_and_ordered(chain):
    admitted(chain)
    with pytest.raises(AccessDenied):
        standing.change_status(chain.login("erin"), "C002", "suspended", "x")
    with pytest.raises(UsageError):
        standing.change_status(chain.login("carol"), "C002", "suspended", "  ")
    standing.change_status(chain.login("carol"), "C002", "suspended", "逾期未付")
    standing.change_status(chain.login("mgmt"), "C002", "terminated", "终止合作")
    with pytest.raises(ConflictError):
        standing.change_status(chain.login("alice"), "C002", "admitted", "恢复")
    st = standing.read_standing(chain.login("alice"), "C002")
    assert (st.status, st.reason) == ("terminated", "终止合作")
    assert problems(chain) == []


def test_an_applying_client_is_not_suspended(chain):
    start(chain)
    with pytest.raises(ConflictError):
        standing.change_status(chain.login("carol"), "C002", "suspended", "x")


def test_over_limit_warns_and_lists(chain):
    admitted(chain)
    carol = chain.login("carol")
    first = receivables.add_invoice(carol, "C002", "INV-1", "400000", "2027-01-01")
    assert first.warnings == []
    second = receivables.add_invoice(carol, "C002", "INV-2", "200000", "2027-02-01")
    assert second.warnings == ["open receivables of C002 (600000.00) exceed its credit limit (500000.00)"]
    assert {r.invoice for r in receivables.list_invoices(carol, over_limit=True)} == {"INV-1", "INV-2"}
    receivables.record_payment(carol, "C002", "INV-2")
    assert receivables.list_invoices(carol, over_limit=True) == []


def test_reassessment_due_and_done(chain):
    admitted(chain)
    chain.home.runtime = Runtime(now=lambda: datetime(2027, 11, 20, tzinfo=timezone.utc))
    carol = chain.login("carol")
    due = {r.client: r for r in standing.due_reassessments(carol)}
    assert due["C002"].days_overdue < 0 and due["C002"].rating == "A"  # due within 30 days
    assert due["C001"].assessed is None  # never assessed: due since it was added
    with pytest.raises(AccessDenied):
        standing.reassess_credit(chain.login("bob"), "C002", "B", "100000", "x")
    done = standing.reassess_credit(carol, "C002", "B", "100000", "两笔逾期，下调额度")
    assert (done.previous_limit, done.limit) == ("500000.00", "100000.00")
    assert "C002" not in {r.client for r in standing.due_reassessments(carol)}
    assert standing.read_standing(carol, "C002").credit.limit == "100000.00"
    assert problems(chain) == []


def test_client_add_is_an_administrators_registration(chain):
    with pytest.raises(AccessDenied):
        clients.add_client(chain.login("erin"), "C009", "直接录入公司")
    clients.add_client(chain.login("alice"), "C009", "历史客户")
    st = standing.read_standing(chain.login("alice"), "C009")
    assert st.recorded and st.status == "admitted" and st.entries[0]["kind"] == "register"


def test_the_applicant_reads_what_a_return_asks_for(chain):
    start(chain)
    admission.review_application(chain.login("mike"), "A0001", "approve", "ok")
    admission.review_application(chain.login("carol"), "A0001", "return", "请补充近三年财务报表")
    erin = admission.show_application(chain.login("erin"), "A0001")
    returned = erin.history[-1]
    assert returned.opinion is None  # the credit opinion stays with class credit
    assert returned.request == "请补充近三年财务报表"
    assert admission.show_application(chain.login("alice"), "A0001").history[-1].opinion == "请补充近三年财务报表"


def test_the_admission_form_lists_each_steps_signed_opinion(chain):
    from tests.generation.test_render import text_of

    admitted(chain)
    alice = chain.login("alice")
    form = next(r for r in list_documents(alice, "C002") if r.type == "admission-form")
    out = chain.root / "form.docx"
    reading.export_to_path(alice, form.doc_id, out)
    text = text_of(out)
    assert "初审（市场部）" in text and "决策（管理层）" in text
    assert "同意准入" in text  # management's own words: the form's class
    assert "信用良好" not in text and "信用评估" in text and "保存在“信用信息”类别中" in text  # named, not quoted
    assert "签字：__________" not in text
