"""Attacks on client admission (issue 18), played as an outsider would.

Each test asserts the SAFE behaviour: an attack that works shows as a failure.
Attackers: (a) an insider holding class basic (and the directory key) who
writes the basic slot's metadata or the directory through a recorded commit
with their own key; (b) a file writer without any passphrase; (c) a
legitimate user driving the library with odd input.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timezone

import pytest

from archive_manager import accounts, admission, clients, receivables, standing
from archive_manager.admission import Attachment
from archive_manager.decisions import append_entry, entry_hash
from archive_manager.errors import AccessDenied, ArchiveError, ConflictError, IntegrityError, NotFound, UsageError
from archive_manager.filing import file_upload
from archive_manager.runtime import Runtime
from archive_manager.verify import verify_vault
from archive_manager.vault.slot import new_slot

APPLICATION = {"legal_rep": "王芳", "address": "上海市浦东新区世纪大道100号", "contact": "李雷",
               "needs": "春节档户外大屏投放，覆盖上海、杭州", "budget": "800000", "business_scope": "食品饮料销售"}
NAME = "杭州味道食品有限公司"
T = "2026-12-07T00:00:00Z"


def start(chain, name=NAME, attachments=None, user="erin", **kw):
    s = chain.login(user)
    if attachments is None:
        attachments = [Attachment("营业执照.txt", "营业执照 统一社会信用代码 91330100MA2B000000".encode(),
                                  "business-license")]
    return admission.start_application(s, name, dict(APPLICATION), attachments, **kw)


def admitted(chain, app="A0001"):
    admission.review_application(chain.login("mike"), app, "approve", "资质齐全")
    admission.review_application(chain.login("carol"), app, "approve", "信用良好", {"rating": "A",
                                                                                 "limit": "500000"})
    admission.review_application(chain.login("bob"), app, "approve", "合规")
    admission.review_application(chain.login("mgmt"), app, "approve", "同意准入")


def tamper(chain, user, code, cls, change):
    """An insider holding the class key writes the slot's metadata directly."""
    s = chain.login(user)
    with s.recorded("tamper"), s.transaction() as tx:
        slot, created = s.slot_to_write(code, cls)
        change(slot, s)
        s.stage_slot(tx, slot, created)


def tamper_directory(chain, user, change):
    """An insider (every active user holds the directory key) rewrites the directory."""
    s = chain.login(user)
    with s.recorded("tamper"), s.transaction() as tx:
        d = s.directory()
        change(d)
        s.write_directory(tx, d)


def forge(s, slot, entries, kind, fields, department, sign=None, user=None, vault_id=None):
    """An entry signed with ``s``'s own key (or ``sign``), appended after ``entries``."""
    return append_entry(entries, kind, fields, user=user or s.user, department=department, time=T,
                        vault_id=vault_id or s.vault.vault_id, dossier=slot.dossier, sign=sign or s.keyring.sign)


def problems(chain, code=None):
    found = verify_vault(chain.login("alice")).problems
    return [p.problem for p in found if code is None or p.client == code]


def status_of(chain, code):
    try:
        return standing.read_standing(chain.login("alice"), code).status
    except IntegrityError:
        return "refused"


def app_doc_version(slot):
    first = slot.meta["decisions"][0]
    return first["doc"], slot.documents[first["doc"]]["versions"][0]


def last_event(chain):
    return chain.reporter.events[-1]


# =====================================================================================
# (a) an insider holding class basic writes the basic slot's metadata
# =====================================================================================


def test_a_emptied_decisions_do_not_turn_a_rejected_client_into_an_admitted_one(chain):
    start(chain)
    admission.review_application(chain.login("mike"), "A0001", "reject", "不符合业务方向")
    assert status_of(chain, "C002") == "rejected"
    tamper(chain, "erin", "C002", "basic", lambda slot, s: slot.meta.__setitem__("decisions", []))
    found, status = problems(chain, "C002"), status_of(chain, "C002")
    assert found and status != "admitted", f"verify: {found}; status now {status}"


@pytest.mark.xfail(strict=True, reason='R2, open: a client planted by an insider holding the directory and class keys, with no status mark and no record, reads as a client from before admission')
def test_a_client_planted_without_any_decision_is_not_admitted(chain):
    s = chain.login("erin")  # business: holds basic and the directory key, may not add clients
    with s.recorded("tamper"), s.transaction() as tx:
        s.store(fresh=True)
        d = s.directory()
        dossier = s.runtime.token(10)
        d.add("C050", dossier, "影子客户有限公司", s.runtime.timestamp())
        slot = new_slot(s.vault.vault_id, dossier, "basic", d.slot(dossier, "basic"), s.store().current("basic"),
                        s.runtime.random_bytes(32))
        slot.meta["profile"] = {"credit_rating": "AAA", "credit_limit": "99999999.00"}
        slot.meta["revision"] = 1
        s.stage_slot(tx, slot, created=True)
        s.write_directory(tx, d)
    found, status = problems(chain, "C050"), status_of(chain, "C050")
    limit = receivables.credit_limit(chain.login("carol"), "C050")
    assert found and status != "admitted" and limit is None, f"verify: {found}; status {status}; limit {limit}"


def test_a_applicant_cannot_write_its_own_review_chain(chain):
    """The apply entry carries the steps; replay trusts them instead of the policy."""
    start(chain)

    def own_chain(slot, s):
        orig = slot.meta["decisions"][0]
        doc, v = app_doc_version(slot)
        steps = [{"id": "self", "name": "自审", "department": "business", "opinion_type": "client-application",
                  "sets": ["credit_rating", "credit_limit"]}]
        apply = forge(s, slot, [], "apply", {"application": "A0001", "content": orig["content"], "doc": doc,
                                             "steps": steps}, "business")
        review = forge(s, slot, [apply], "review", {
            "application": "A0001", "step": "self", "decision": "approve", "content": orig["content"],
            "opinion": {"doc": doc, "version": v["version"], "sha256": v["sha256"], "class": "basic"},
            "sets": {"credit_rating": "AAA", "credit_limit": "99999999.00"}}, "business")
        slot.meta["decisions"] = [apply, review]
        slot.meta["profile"] = {**slot.meta["profile"], "credit_rating": "AAA", "credit_limit": "99999999.00"}
    tamper(chain, "erin", "C002", "basic", own_chain)
    found, status = problems(chain, "C002"), status_of(chain, "C002")
    assert found and status != "admitted", f"verify: {found}; status now {status}"


def test_a_apply_signed_by_a_department_that_does_not_apply(chain):
    start(chain)

    def rewrite(slot, s):  # mike (marketing) replaces entry 1 with his own apply, the policy's steps kept
        orig = slot.meta["decisions"][0]
        fields = {k: orig[k] for k in ("application", "content", "doc", "steps")}
        slot.meta["decisions"] = [forge(s, slot, [], "apply", fields, "marketing")]
    tamper(chain, "mike", "C002", "basic", rewrite)
    assert any("apply" in p or "applicant" in p or "decision 1" in p for p in problems(chain, "C002")), \
        problems(chain, "C002")


def test_a_step_sets_credit_terms_the_policy_does_not_give_it(chain, monkeypatch):
    """Legal's approval carries sets (its client code patched): replay takes them."""
    start(chain)
    admission.review_application(chain.login("mike"), "A0001", "approve", "资质齐全")
    admission.review_application(chain.login("carol"), "A0001", "approve", "信用良好", {"rating": "A",
                                                                                     "limit": "500000"})
    monkeypatch.setattr(admission, "_check_sets", lambda session, step, decision, sets: dict(sets))
    with pytest.raises(IntegrityError):  # the replay of its own decision refuses it: nothing is written
        admission.review_application(chain.login("bob"), "A0001", "approve", "合规",
                                     {"credit_rating": "AAA", "credit_limit": "90000000.00"})
    monkeypatch.undo()
    admission.review_application(chain.login("bob"), "A0001", "approve", "合规")
    admission.review_application(chain.login("mgmt"), "A0001", "approve", "同意准入")
    found, limit = problems(chain, "C002"), standing.read_standing(chain.login("alice"), "C002").credit.limit
    assert not found and limit == "500000.00", f"verify: {found}; signed limit now {limit} (legal's)"


def test_a_approval_naming_an_opinion_in_a_class_nobody_holds(chain):
    start(chain)

    def approve(slot, s):  # mike is marketing: right department, but no opinion was ever filed
        entries = list(slot.meta["decisions"])
        slot.meta["decisions"] = entries + [forge(s, slot, entries, "review", {
            "application": "A0001", "step": "marketing", "decision": "approve", "content": entries[0]["content"],
            "opinion": {"doc": "C002-NOSUCHDOC", "version": 1, "sha256": "0" * 64, "class": "nosuchclass"}},
            "marketing")]
    tamper(chain, "mike", "C002", "basic", approve)
    assert problems(chain, "C002"), "an approval whose opinion document does not exist passes verify"


def test_a_approval_naming_a_document_of_another_type_as_its_opinion(chain):
    start(chain)

    def approve(slot, s):  # the 'opinion' is the application itself (class basic, right sha)
        entries = list(slot.meta["decisions"])
        doc, v = app_doc_version(slot)
        slot.meta["decisions"] = entries + [forge(s, slot, entries, "review", {
            "application": "A0001", "step": "marketing", "decision": "approve", "content": entries[0]["content"],
            "opinion": {"doc": doc, "version": v["version"], "sha256": v["sha256"], "class": "basic"}},
            "marketing")]
    tamper(chain, "mike", "C002", "basic", approve)
    assert problems(chain, "C002"), "an 'opinion' that is not a marketing-review document passes verify"


def test_a_termination_cut_off_the_end_of_the_chain(chain):
    start(chain)
    admitted(chain)
    standing.change_status(chain.login("mgmt"), "C002", "terminated", "终止合作")
    tamper(chain, "erin", "C002", "basic",
           lambda slot, s: slot.meta.__setitem__("decisions", slot.meta["decisions"][:-1]))
    tamper_directory(chain, "erin", lambda d: d.mark("C002", status="admitted"))
    # verify holds the record's head to the last audit event that wrote a decision (operations
    # read the record as it is until verify runs: a known limit, see the issue note)
    assert any("audit log's last decision" in p for p in problems(chain, "C002"))


def test_a_reassessment_cut_off_the_end_of_the_chain(chain):
    start(chain)
    admitted(chain)
    standing.reassess_credit(chain.login("carol"), "C002", "B", "100000", "两笔逾期，下调额度")

    def cut(slot, s):
        slot.meta["decisions"] = slot.meta["decisions"][:-1]
        slot.meta["profile"] = {**slot.meta["profile"], "credit_rating": "A", "credit_limit": "500000.00"}
    tamper(chain, "erin", "C002", "basic", cut)
    assert any("audit log's last decision" in p for p in problems(chain, "C002"))


def test_a_edited_application_is_not_admitted_by_the_last_review(chain):
    start(chain)
    admission.review_application(chain.login("mike"), "A0001", "approve", "ok")
    admission.review_application(chain.login("carol"), "A0001", "approve", "ok", {"rating": "A", "limit": "500000"})
    admission.review_application(chain.login("bob"), "A0001", "approve", "ok")

    def edit(slot, s):
        app = dict(slot.meta["application"])
        app["fields"] = {**app["fields"], "budget": "80000000.00", "needs": "全国户外大屏，预付款为零"}
        slot.meta["application"] = app
    tamper(chain, "erin", "C002", "basic", edit)
    with pytest.raises(ArchiveError):  # the last step must not admit (and generate the form) from edited content
        admission.review_application(chain.login("mgmt"), "A0001", "approve", "同意准入")


def test_a_resubmission_does_not_sign_over_someone_elses_edit(chain):
    start(chain)
    admission.review_application(chain.login("mike"), "A0001", "approve", "ok")
    admission.review_application(chain.login("carol"), "A0001", "return", "请补充财务报表")

    def edit(slot, s):  # bob (legal) edits the stored application while it is returned
        app = dict(slot.meta["application"])
        app["profile"] = {**app["profile"], "legal_rep": "冒名顶替"}
        slot.meta["application"] = app
    tamper(chain, "bob", "C002", "basic", edit)
    assert problems(chain, "C002")  # found now ...
    try:
        admission.resubmit_application(chain.login("erin"), "A0001", {"budget": "600000"})
    except ArchiveError:
        return  # refused: safe
    recorded = admission.show_application(chain.login("alice"), "A0001").fields
    assert recorded.get("legal_rep") == "王芳", "the applicant's resubmission signed bob's edit: it is laundered"


def test_a_directory_name_is_not_shown_as_the_signed_application_name(chain):
    start(chain)
    tamper_directory(chain, "erin", lambda d: d.clients["C002"].__setitem__("name", "中国某大型国有集团"))
    try:
        view = admission.show_application(chain.login("mike"), "A0001")
    except ArchiveError:
        return
    assert view.name == NAME, f"reviewers are shown {view.name!r}, an unsigned name, not the one applied for"


def test_a_directory_status_does_not_hide_an_open_application(chain):
    start(chain)
    tamper_directory(chain, "erin", lambda d: d.mark("C002", status="admitted"))
    rows = admission.list_applications(chain.login("mike"), mine=True)
    assert [r.application for r in rows] == ["A0001"], "an unsigned finding aid hid the application from its queue"


def test_a_directory_status_does_not_hide_a_due_reassessment(chain):
    start(chain)
    admitted(chain)
    tamper_directory(chain, "erin", lambda d: d.mark("C002", status="terminated"))
    chain.home.runtime = Runtime(now=lambda: datetime(2027, 11, 20, tzinfo=timezone.utc))
    due = {r.client for r in standing.due_reassessments(chain.login("carol"))}
    assert "C002" in due, "an unsigned finding aid took an admitted client off the re-assessment list"


def test_a_directory_dossier_swap_does_not_give_one_client_anothers_record(chain):
    start(chain)  # C002 / A0001: rejected
    admission.review_application(chain.login("mike"), "A0001", "reject", "不符合")
    start(chain, name="宁波海鲜餐饮有限公司")  # C003 / A0002: admitted
    admitted(chain, "A0002")

    def swap(d):
        a, b = d.clients["C002"]["dossier"], d.clients["C003"]["dossier"]
        d.clients["C002"]["dossier"], d.clients["C003"]["dossier"] = b, a
    tamper_directory(chain, "erin", swap)
    found, status = problems(chain), status_of(chain, "C002")
    assert found and status != "admitted", f"verify: {found}; rejected C002 now {status}"


def test_a_directory_application_pointer_swap_does_not_misdirect_a_review(chain):
    start(chain)
    start(chain, name="宁波海鲜餐饮有限公司")

    def swap(d):
        d.clients["C002"]["application"], d.clients["C003"]["application"] = "A0002", "A0001"
    tamper_directory(chain, "erin", swap)
    try:
        done = admission.review_application(chain.login("mike"), "A0001", "approve", "ok")
    except ArchiveError:
        pass
    else:  # if it acted, it must have acted on the client whose signed chain is A0001
        assert done.client == "C002"
    try:
        view = admission.show_application(chain.login("alice"), "A0001")
    except ArchiveError:
        return
    assert (view.application, view.client) == ("A0001", "C002"), \
        f"asked for A0001, shown {view.application} of {view.client} ({view.name})"


def test_a_entry_replayed_from_another_client(chain):
    start(chain)
    start(chain, name="宁波海鲜餐饮有限公司")
    admission.review_application(chain.login("mike"), "A0002", "approve", "ok")
    alice = chain.login("alice")
    d = alice.directory()
    other = alice.slot(d, d.clients["C003"]["dossier"], "basic").meta["decisions"][1]

    def replay(slot, s):
        entries = list(slot.meta["decisions"])
        slot.meta["decisions"] = entries + [{**other, "content": entries[0]["content"], "application": "A0001",
                                             "prev": entry_hash(entries[-1])}]
    tamper(chain, "erin", "C002", "basic", replay)
    assert any("signature" in p for p in problems(chain, "C002"))
    with pytest.raises(IntegrityError):
        admission.review_application(chain.login("carol"), "A0001", "approve", "x", {"rating": "A", "limit": "1"})


def test_a_entry_signed_for_another_archive(chain):
    start(chain)
    mike = chain.login("mike")

    def replay(slot, s):
        entries = list(slot.meta["decisions"])
        slot.meta["decisions"] = entries + [forge(s, slot, entries, "review", {
            "application": "A0001", "step": "marketing", "decision": "approve", "content": entries[0]["content"],
            "opinion": {"doc": "x", "version": 1, "sha256": "0" * 64, "class": "business"}}, "marketing",
            sign=mike.keyring.sign, user="mike", vault_id="another-vault")]
    tamper(chain, "erin", "C002", "basic", replay)
    assert any("signature" in p for p in problems(chain, "C002"))


def test_a_reordered_entries(chain):
    start(chain)
    admission.review_application(chain.login("mike"), "A0001", "approve", "ok")
    admission.review_application(chain.login("carol"), "A0001", "approve", "ok", {"rating": "A", "limit": "1"})

    def swap(slot, s):
        e = list(slot.meta["decisions"])
        slot.meta["decisions"] = [e[0], e[2], e[1]]
    tamper(chain, "erin", "C002", "basic", swap)
    assert any("out of its place" in p for p in problems(chain, "C002"))


def test_a_own_key_own_department_on_another_step(chain):
    start(chain)

    def skip(slot, s):  # carol (credit) signs, as credit, an approval of the marketing step
        entries = list(slot.meta["decisions"])
        slot.meta["decisions"] = entries + [forge(s, slot, entries, "review", {
            "application": "A0001", "step": "marketing", "decision": "approve", "content": entries[0]["content"],
            "opinion": {"doc": "x", "version": 1, "sha256": "0" * 64, "class": "credit"}}, "credit")]
    tamper(chain, "carol", "C002", "basic", skip)
    assert any("marketing" in p and "not allowed" in p for p in problems(chain, "C002"))


def test_a_review_of_a_step_that_does_not_exist(chain):
    start(chain)

    def ghost(slot, s):
        entries = list(slot.meta["decisions"])
        slot.meta["decisions"] = entries + [forge(s, slot, entries, "review", {
            "application": "A0001", "step": "nosuchstep", "decision": "approve", "content": entries[0]["content"],
            "opinion": {"doc": "x", "version": 1, "sha256": "0" * 64, "class": "business"}}, "marketing")]
    tamper(chain, "mike", "C002", "basic", ghost)
    assert any("not allowed" in p for p in problems(chain, "C002"))


def test_a_removed_user_no_longer_signs_for_the_department(chain):
    start(chain)
    mike = chain.login("mike")  # his keyring, unlocked before he leaves (or a copy he kept)
    accounts.remove_user(chain.login("alice"), "mike")

    def approve(slot, s):
        entries = list(slot.meta["decisions"])
        slot.meta["decisions"] = entries + [forge(s, slot, entries, "review", {
            "application": "A0001", "step": "marketing", "decision": "approve", "content": entries[0]["content"],
            "opinion": {"doc": entries[0]["doc"], "version": 1,
                        "sha256": slot.documents[entries[0]["doc"]]["versions"][0]["sha256"], "class": "basic"}},
            "marketing", sign=mike.keyring.sign, user="mike")]
    tamper(chain, "erin", "C002", "basic", approve)
    assert problems(chain, "C002"), "an approval signed by a removed user passes verify"


def test_a_profile_credit_limit_of_a_registered_client_is_not_trusted(chain):
    """C001 was registered by an administrator: no signed credit terms, so the
    profile's (writable by any basic holder) is taken as the limit."""
    tamper(chain, "erin", "C001", "basic",
           lambda slot, s: slot.meta.__setitem__("profile", {**slot.meta["profile"], "credit_limit": "99999999.00"}))
    assert problems(chain, "C001") or receivables.credit_limit(chain.login("carol"), "C001") is None, \
        "an unsigned credit limit written by a business user is the limit, and verify sees nothing"


def test_c_profile_edit_does_not_change_signed_credit_terms(chain):
    start(chain)
    admitted(chain)
    try:  # the credit limit changes through a signed re-assessment only
        clients.edit_client(chain.login("carol"), "C002", {"credit_limit": "90000000"})
    except ArchiveError:
        return
    profile = clients.show_client(chain.login("mike"), "C002").profile
    pytest.fail(f"an unsigned edit put credit_limit {profile['credit_limit']} in the profile (verify: "
                f"{problems(chain, 'C002')})")


# =====================================================================================
# (a)/(c) what the application shows against what was signed
# =====================================================================================


def test_c_application_document_replaced_by_an_ordinary_filing(chain):
    started = start(chain)
    doc = started.documents[0]
    try:
        file_upload(chain.login("carol"), "客户准入申请 A0001\n预算（元）：80000000.00\n".encode(), "x.txt", "C002",
                    "client-application", replaces=doc)
    except ArchiveError:
        return  # refused: safe
    assert problems(chain, "C002"), "the application document's text was replaced and nothing notices"


def test_c_applicant_attaches_documents_of_workflow_types(chain):
    for doc_type in ("admission-form", "admission-decision", "marketing-review"):
        with pytest.raises(ArchiveError):
            start(chain, attachments=[Attachment("伪造.txt", "同意准入".encode(), doc_type)])


def test_c_reviewer_without_file_right_cannot_attach(chain):
    start(chain)  # marketing holds basic and business to read, but not the file action
    with pytest.raises(AccessDenied):
        admission.review_application(chain.login("mike"), "A0001", "approve", "ok",
                                     attachments=[Attachment("需求.txt", "需求".encode(), "requirements")])


def test_c_attachment_of_a_class_the_applicant_does_not_hold(chain):
    with pytest.raises(AccessDenied):
        start(chain, attachments=[Attachment("信用报告.txt", "良".encode(), "credit-report")])
    assert (last_event(chain).action, last_event(chain).outcome) == ("admission-start", "denied")


# =====================================================================================
# (b) a file writer without any passphrase
# =====================================================================================


def _slot_dir(chain, code, cls="basic"):
    alice = chain.login("alice")
    d = alice.directory()
    dossier = d.clients[code]["dossier"]
    return alice.vault.paths.slot_dir(dossier, d.slot(dossier, cls))


def test_b_swapped_basic_slot_directories(chain, tmp_path):
    start(chain)
    admission.review_application(chain.login("mike"), "A0001", "reject", "不符合")
    start(chain, name="宁波海鲜餐饮有限公司")
    admitted(chain, "A0002")
    a, b = _slot_dir(chain, "C002"), _slot_dir(chain, "C003")
    tmp = tmp_path / "swap"
    shutil.move(a, tmp)
    shutil.move(b, a)
    shutil.move(tmp, b)
    chain.reopen()
    assert status_of(chain, "C002") == "refused" and status_of(chain, "C003") == "refused"


def test_b_verify_reports_a_broken_basic_slot_instead_of_aborting(chain, tmp_path):
    start(chain)
    start(chain, name="宁波海鲜餐饮有限公司")
    a, b = _slot_dir(chain, "C002"), _slot_dir(chain, "C003")
    tmp = tmp_path / "swap"
    shutil.move(a, tmp)
    shutil.move(b, a)
    shutil.move(tmp, b)
    chain.reopen()
    try:
        report = verify_vault(chain.login("alice"))
    except IntegrityError as exc:
        pytest.fail(f"verify stops at the first broken basic slot instead of reporting: {exc.message}")
    assert {p.client for p in report.problems} >= {"C002", "C003"}


def test_b_basic_slot_rolled_back_to_before_the_rejection(chain, tmp_path):
    start(chain)
    slot = _slot_dir(chain, "C002")
    shutil.copytree(slot, tmp_path / "copy")
    admission.review_application(chain.login("mike"), "A0001", "reject", "不符合")
    shutil.rmtree(slot)
    shutil.copytree(tmp_path / "copy", slot)
    chain.reopen()
    assert status_of(chain, "C002") == "applying"  # the copy is valid on its own
    assert problems(chain, "C002"), "the rolled back slot is not found by verify"


def test_b_newest_metadata_record_deleted(chain):
    start(chain)
    admission.review_application(chain.login("mike"), "A0001", "approve", "ok")
    admission.review_application(chain.login("carol"), "A0001", "reject", "信用不良")
    records = sorted((_slot_dir(chain, "C002") / "meta").glob("*.bin"), key=lambda p: int(p.stem))
    assert records, "expected the rejection as a metadata record"
    records[-1].unlink()
    chain.reopen()
    assert problems(chain, "C002"), "a deleted last record (the rejection) is not found by verify"


def test_b_directory_replaced_with_an_older_copy(chain, tmp_path):
    start(chain)
    admitted(chain)
    directory = chain.login("alice").vault.paths.directory
    shutil.copy(directory, tmp_path / "directory.bin")
    standing.change_status(chain.login("mgmt"), "C002", "terminated", "终止合作")
    shutil.copy(tmp_path / "directory.bin", directory)
    chain.reopen()
    assert any("directory" in p.where for p in verify_vault(chain.login("alice")).problems)
    assert status_of(chain, "C002") == "terminated"  # the signed record still says so


@pytest.mark.xfail(strict=True, reason="R13, open: a home rolled back whole with its audit log needs an anchor outside the home (auditors' checkpoints)")
def test_b_whole_home_rolled_back_to_before_the_rejection(chain, tmp_path):
    """Vault and audit log put back together (a backup from before the
    rejection): nothing under the home can tell; only an anchor kept outside
    it (a checkpoint held by the auditors, a counter in each keyring) could."""
    start(chain)
    backup = tmp_path / "backup"
    shutil.copytree(chain.root, backup)
    admission.review_application(chain.login("mike"), "A0001", "reject", "不符合")
    shutil.rmtree(chain.root)
    shutil.copytree(backup, chain.root)
    chain.reopen()
    assert status_of(chain, "C002") == "applying"
    assert problems(chain), "a rollback of the whole home (log included) passes verify"


# =====================================================================================
# (c) a legitimate user with odd input
# =====================================================================================


def test_c_opinion_too_long_or_with_control_characters_is_refused(chain):
    start(chain)
    mike = chain.login("mike")
    for text in ("x" * (standing.MAX_OPINION + 1), "ok\x1b[2J", "ok\x00", "   ", "ok\u2028"):
        with pytest.raises(UsageError):
            admission.review_application(mike, "A0001", "approve", text)
    assert len(standing.read_standing(chain.login("alice"), "C002").entries) == 1


def test_c_resubmit_note_is_bounded(chain):
    start(chain)
    admission.review_application(chain.login("mike"), "A0001", "return", "补充")
    with pytest.raises(UsageError):
        admission.resubmit_application(chain.login("erin"), "A0001", {"budget": "1"}, note="注" * 5_000_000)


def test_c_concurrent_double_approval(chain, monkeypatch):
    start(chain)
    first, second = chain.login("mike"), chain.login("mike")
    real = admission.check_opinion
    fired = []

    def racing(text):
        if not fired:  # the other approval commits while this one is being prepared
            fired.append(True)
            admission.review_application(first, "A0001", "approve", "第一次")
        return real(text)
    monkeypatch.setattr(admission, "check_opinion", racing)
    with pytest.raises(ConflictError):
        admission.review_application(second, "A0001", "approve", "第二次")
    monkeypatch.undo()
    st = standing.read_standing(chain.login("alice"), "C002")
    assert [e["kind"] for e in st.entries] == ["apply", "review"]
    assert st.application.waiting_step["id"] == "credit"


def test_c_concurrent_approve_and_reject(chain, monkeypatch):
    start(chain)
    first, second = chain.login("mike"), chain.login("mike")
    real = admission.check_opinion
    fired = []

    def racing(text):
        if not fired:
            fired.append(True)
            admission.review_application(first, "A0001", "reject", "不同意")
        return real(text)
    monkeypatch.setattr(admission, "check_opinion", racing)
    with pytest.raises(ArchiveError):
        admission.review_application(second, "A0001", "approve", "同意")
    monkeypatch.undo()
    assert status_of(chain, "C002") == "rejected"


def test_c_same_department_approves_twice(chain):
    start(chain)
    admission.review_application(chain.login("mike"), "A0001", "approve", "ok")
    with pytest.raises(AccessDenied):
        admission.review_application(chain.login("mike"), "A0001", "approve", "again")
    # refused and recorded: a conflict with the application's state (error), not a matter of rights (denied)
    assert (last_event(chain).action, last_event(chain).outcome) in (("admission-review", "denied"),
                                                                     ("admission-review", "error"))


def test_c_sets_on_the_wrong_step_or_out_of_range(chain):
    start(chain)
    with pytest.raises(UsageError):
        admission.review_application(chain.login("mike"), "A0001", "approve", "ok", {"credit_limit": "1"})
    admission.review_application(chain.login("mike"), "A0001", "approve", "ok")
    carol = chain.login("carol")
    for bad in ({"rating": "A", "limit": "-1"}, {"rating": "Z", "limit": "1"}, {"rating": "A", "limit": "nan"},
                {"rating": "A", "limit": "1", "payment_terms": "x"}, {"rating": "A", "limit": "1", "status": "x"},
                {"rating": "A"}):
        with pytest.raises(UsageError):
            admission.review_application(carol, "A0001", "approve", "ok", bad)
    with pytest.raises(UsageError):
        admission.review_application(carol, "A0001", "return", "ok", {"rating": "A", "limit": "1"})
    assert len(standing.read_standing(chain.login("alice"), "C002").entries) == 2


def test_c_huge_amount_is_a_usage_error_not_a_traceback(chain):
    """money() quantizes 1e400 to cents: decimal.InvalidOperation, not an ArchiveError."""
    with pytest.raises(UsageError):
        admission.start_application(chain.login("erin"), NAME, {**APPLICATION, "budget": "1e400"})
    start(chain)
    admission.review_application(chain.login("mike"), "A0001", "approve", "ok")
    with pytest.raises(UsageError):
        admission.review_application(chain.login("carol"), "A0001", "approve", "ok", {"rating": "A", "limit": "1e400"})


def test_c_terminated_or_rejected_client_is_not_reassessed_or_reinstated(chain):
    start(chain)
    admitted(chain)
    standing.change_status(chain.login("mgmt"), "C002", "terminated", "终止合作")
    with pytest.raises(ConflictError):
        standing.reassess_credit(chain.login("carol"), "C002", "AAA", "9000000", "恢复")
    start(chain, name="宁波海鲜餐饮有限公司")
    with pytest.raises(ConflictError):  # applying
        standing.reassess_credit(chain.login("carol"), "C003", "AAA", "9000000", "预先授信")
    admission.review_application(chain.login("mike"), "A0002", "reject", "不符合")
    with pytest.raises(ConflictError):
        standing.change_status(chain.login("alice"), "C003", "admitted", "恢复")
    with pytest.raises(ConflictError):  # a rejected client's code is not applied for again
        start(chain, name="宁波海鲜餐饮有限公司", code="C003")


def test_c_resubmit_by_another_department_is_denied_and_recorded(chain):
    start(chain)
    admission.review_application(chain.login("mike"), "A0001", "return", "补充")
    with pytest.raises(AccessDenied):
        admission.resubmit_application(chain.login("mike"), "A0001", {"budget": "1"})
    assert (last_event(chain).action, last_event(chain).outcome) == ("admission-resubmit", "denied")


def test_c_start_by_a_department_not_among_applicants_is_denied_and_recorded(chain):
    with pytest.raises(AccessDenied):
        start(chain, user="carol")
    assert (last_event(chain).action, last_event(chain).outcome) == ("admission-start", "denied")


def test_c_out_of_order_review_of_a_returned_application_is_recorded_as_denied(chain):
    start(chain)
    admission.review_application(chain.login("mike"), "A0001", "approve", "ok")
    admission.review_application(chain.login("carol"), "A0001", "return", "补充")
    with pytest.raises(ArchiveError):
        admission.review_application(chain.login("bob"), "A0001", "approve", "跳过")
    # refused and recorded: a conflict with the application's state (error), not a matter of rights (denied)
    assert (last_event(chain).action, last_event(chain).outcome) in (("admission-review", "denied"),
                                                                     ("admission-review", "error"))


def test_c_review_of_a_closed_application_is_refused(chain):
    start(chain)
    admitted(chain)
    for user in ("mike", "mgmt"):
        with pytest.raises(ConflictError):
            admission.review_application(chain.login(user), "A0001", "reject", "改主意了")
    assert status_of(chain, "C002") == "admitted"


def test_c_application_ids_of_another_form(chain):
    start(chain)
    alice = chain.login("alice")
    for app_id in ("C002", "a0001", "A1", "", "A0001 ", "A0001\n", "../A0001", "C001"):
        with pytest.raises(NotFound):
            admission.show_application(alice, app_id)
        with pytest.raises(NotFound):
            admission.review_application(chain.login("mike"), app_id, "approve", "ok")
    with pytest.raises(NotFound):  # a registered client has no application
        admission.resubmit_application(chain.login("erin"), "C001", {"budget": "1"})


def test_c_start_with_an_existing_or_bad_code(chain):
    with pytest.raises(ConflictError):
        start(chain, code="C001")
    with pytest.raises(UsageError):
        start(chain, code="../C9")
    assert status_of(chain, "C001") == "admitted"


# =====================================================================================
# confidentiality of opinions; robustness of the queue
# =====================================================================================


def test_c_opinions_stay_within_their_class(chain):
    start(chain)
    admission.review_application(chain.login("mike"), "A0001", "approve", "市场意见甲")
    admission.review_application(chain.login("carol"), "A0001", "approve", "信用机密乙",
                                 {"rating": "A", "limit": "500000"})
    admission.review_application(chain.login("bob"), "A0001", "approve", "合规机密丙")
    admission.review_application(chain.login("mgmt"), "A0001", "approve", "决策丁")
    for user, hidden in (("mike", ("credit", "legal")), ("erin", ("credit", "legal")), ("carol", ("marketing", "legal")),
                         ("bob", ("marketing", "credit"))):
        view = admission.show_application(chain.login(user), "A0001")
        for h in view.history:
            if h.step in hidden:
                assert h.opinion is None, (user, h.step)
        text = repr(view) + repr(admission.list_applications(chain.login(user), closed=True))
        for secret, step in (("信用机密乙", "credit"), ("合规机密丙", "legal")):
            if step in hidden:
                assert secret not in text, (user, step)


def test_c_opinion_class_claim_does_not_unlock_a_document(chain):
    """An entry naming a credit-class document as class basic: the reader's keys decide."""
    start(chain)
    admission.review_application(chain.login("mike"), "A0001", "approve", "ok")
    admission.review_application(chain.login("carol"), "A0001", "approve", "信用机密乙",
                                 {"rating": "A", "limit": "500000"})
    credit_doc = standing.read_standing(chain.login("alice"), "C002").entries[-1]["opinion"]["doc"]
    view = admission.show_application(chain.login("mike"), "A0001")
    from archive_manager.admission import _opinion_text
    assert _opinion_text(chain.login("mike"), "C002", {"doc": credit_doc, "version": 1, "class": "basic"}) is None
    assert all(h.opinion is None for h in view.history if h.step == "credit")


def test_a_one_broken_client_does_not_take_down_the_queue(chain):
    start(chain)
    start(chain, name="宁波海鲜餐饮有限公司")
    tamper(chain, "erin", "C002", "basic",
           lambda slot, s: slot.meta.__setitem__("decisions", [{**slot.meta["decisions"][0], "sig": "AAAA"}]))
    try:
        rows = admission.list_applications(chain.login("mike"), mine=True)
    except IntegrityError:
        pytest.fail("one tampered client makes the review queue fail for every application")
    assert "A0002" in [r.application for r in rows]


def test_a_broken_decisions_stop_every_operation_on_the_client(chain):
    start(chain)
    admitted(chain)

    def flip(slot, s):
        e = [dict(x) for x in slot.meta["decisions"]]
        e[-1]["time"] = "2020-01-01T00:00:00Z"
        slot.meta["decisions"] = e
    tamper(chain, "erin", "C002", "basic", flip)
    carol = chain.login("carol")
    for op in (lambda: standing.change_status(carol, "C002", "suspended", "x"),
               lambda: standing.reassess_credit(carol, "C002", "AAA", "1", "x"),
               lambda: receivables.add_invoice(carol, "C002", "INV-1", "1", "2027-01-01"),
               lambda: admission.show_application(carol, "A0001")):
        with pytest.raises(IntegrityError):
            op()


def test_c_admission_form_states_what_was_signed_not_the_profile_edited_since(chain):
    """The form is made from basic.meta['profile'] (editable by its owners), not from the signed application."""
    from archive_manager.reading import locate, version_text

    start(chain)
    admission.review_application(chain.login("mike"), "A0001", "approve", "ok")
    admission.review_application(chain.login("carol"), "A0001", "approve", "ok", {"rating": "A", "limit": "500000"})
    admission.review_application(chain.login("bob"), "A0001", "approve", "ok")
    clients.edit_client(chain.login("erin"), "C002", {"address": "开曼群岛某信箱"})  # erin owns address
    done = admission.review_application(chain.login("mgmt"), "A0001", "approve", "同意准入")
    alice = chain.login("alice")
    with alice.recorded("read-form"):
        text = version_text(alice, locate(alice, done.admission_form), 1).text
    assert "开曼群岛某信箱" not in text and APPLICATION["address"] in text, text[:400]
