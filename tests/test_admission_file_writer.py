"""Attacks on client admission, status, credit and amendments (issue 18) by
someone who can WRITE the home's files but holds no passphrase and no key (a
backup operator, a colleague with shell access): copy, delete, replace, roll
back and edit any file under the home, and keep copies taken earlier. They
cannot decrypt, nor make valid ciphertext or signatures.

Each test asserts the SAFE behaviour: an attack that works shows as a failure.
The insiders' attacks (holders of class keys) are in test_admission_attacks.py
and are not repeated; its section (b) already covers a basic slot rolled back
before a rejection, two basic slots swapped, a deleted newest record after a
rejection and an older directory.bin.

What failed when written (11 of 27): an unsigned "failed sign-in" appended to
the log carrying a commit ``state`` passes audit verify and makes verify take
a rolled-back or cut slot as current (rejection, termination, a rejected
amendment undone); a missing basic slot reads as a client without decisions,
so 'admitted' and without a limit; the CLI's sign-in acts on an older signed
policy.json, and an application started under it keeps its shorter chain
once the current policy is back; the .docx templates are unsigned, so the
admission form, a draft amendment without its mark, and a final amendment
whose text differs from the approved draft are rendered from a planted file.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from archive_manager import accounts, admission, amendments, filing, generating, reading, receivables, standing
from archive_manager.admission import Attachment
from archive_manager.audit.chain import canonical, line_hash
from archive_manager.auditing import verify_trail
from archive_manager.errors import ArchiveError, IntegrityError, PolicyError
from archive_manager.verify import verify_vault
from tests.generation.test_render import text_of

APPLICATION = {"legal_rep": "王芳", "address": "上海市浦东新区世纪大道100号", "contact": "李雷",
               "needs": "春节档户外大屏投放，覆盖上海、杭州", "budget": "800000", "business_scope": "食品饮料销售"}
NAME = "杭州味道食品有限公司"
GIVEN = {"changes": [{"clause": "第三条 合同金额", "original": "人民币 480,000 元", "new": "人民币 520,000 元"}],
         "effective": "2026-12-01"}
MARK = "（草稿 DRAFT）"
FORGED = "乙方放弃全部追索权"


# the fixture `chain` (tests/conftest.py): the letterhead, and erin (business), mike (marketing), mgmt (management)


def start(chain, name=NAME, user="erin"):
    return admission.start_application(chain.login(user), name, dict(APPLICATION), [
        Attachment("营业执照.txt", "营业执照 统一社会信用代码 91330100MA2B000000".encode(), "business-license")])


def admit(chain, app="A0001", limit="500000"):
    admission.review_application(chain.login("mike"), app, "approve", "资质齐全")
    admission.review_application(chain.login("carol"), app, "approve", "信用良好", {"rating": "A", "limit": limit})
    admission.review_application(chain.login("bob"), app, "approve", "合规")
    return admission.review_application(chain.login("mgmt"), app, "approve", "同意准入")


def problems(chain, code=None) -> list[str]:
    found = verify_vault(chain.login("alice")).problems
    return [f"{p.where}: {p.problem}" for p in found if code is None or p.client == code]


def status_of(chain, code) -> str:
    try:
        return standing.read_standing(chain.login("alice"), code).status
    except IntegrityError:
        return "refused"


# --- what the file writer does -------------------------------------------------------


def _vault(chain) -> Path:
    return chain.home.settings.vault_dir


def _slot_dir(chain, code, cls="basic") -> Path:
    alice = chain.login("alice")
    d = alice.directory()
    dossier = d.clients[code]["dossier"]
    return alice.vault.paths.slot_dir(dossier, d.slot(dossier, cls))


def _snapshot(path: Path, to: Path) -> Path:
    if path.is_dir():
        shutil.copytree(path, to)
    else:
        to.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, to)
    return to


def _put_back(copy: Path, path: Path) -> None:
    if copy.is_dir():
        shutil.rmtree(path, ignore_errors=True)
        shutil.copytree(copy, path)
    else:
        shutil.copy2(copy, path)


def _records(slot: Path) -> list[Path]:
    return sorted((slot / "meta").glob("*.bin"), key=lambda p: int(p.stem))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tracked(chain, slot: Path) -> dict[str, str]:
    """The slot's metadata files as the audit state names them, with their SHA-256."""
    root = _vault(chain)
    files = [slot / "keys.json", slot / "meta.bin", *_records(slot)]
    return {p.relative_to(root).as_posix(): _sha(p) for p in files if p.is_file()}


def _bless(chain, files: dict[str, str]) -> None:
    """Append one event no key signed, shaped as an unsigned failed sign-in
    (the one kind of event allowed unsigned), chained to the last line (a
    hash anyone computes), whose ``state`` records ``files`` as the newest
    bytes of those vault files."""
    log = chain.home.audit_log().path
    last = log.read_bytes().splitlines()[-1]
    before = json.loads(last)
    event = {"seq": before["seq"] + 1, "time": before["time"], "user": "mallory", "departments": [],
             "action": "login", "objects": {}, "outcome": "denied", "reason": "authentication failed",
             "host": before["host"], "sealed": None, "state": {"tx": "backup-restore", "files": files},
             "prev": line_hash(last), "signer": None, "sig": None}
    with open(log, "ab") as fh:
        fh.write(canonical(event) + b"\n")


def _patched_docx(path: Path, old: str, new: str) -> None:
    """Rewrite a template's body text (no key needed: templates are plain files)."""
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    xml = parts["word/document.xml"].decode("utf-8")
    assert old in xml, old
    parts["word/document.xml"] = xml.replace(old, new, 1).encode("utf-8")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for n, data in parts.items():
            z.writestr(n, data)


def _doc_text(session, doc_id: str, version: int | None, tmp_path: Path) -> str:
    sink = io.BytesIO()
    reading.read_document(session, doc_id, sink, version)
    out = tmp_path / f"{doc_id}-{version}.docx"
    out.write_bytes(sink.getvalue())
    return text_of(out)


# =====================================================================================
# 1. an unsigned event appended to the audit log makes a rollback current
# =====================================================================================


def test_unsigned_failed_signin_carrying_a_commit_state_fails_audit_verify(chain):
    """An unsigned event is allowed only as a failed sign-in; one that records a
    commit's files is not a failed sign-in."""
    start(chain)
    slot = _slot_dir(chain, "C002")
    _bless(chain, _tracked(chain, slot))
    # found: audit.chain._check lets any event with action login / outcome denied go unsigned, state and all
    assert not verify_trail(chain.home).ok, "an unsigned 'failed sign-in' carrying a commit state passes audit verify"


def test_rejection_rolled_back_and_blessed_by_an_unsigned_event(chain, tmp_path):
    """The basic slot put back from before marketing's rejection, and one
    unsigned 'failed sign-in' appended whose state names the copy's files as
    the newest: verify compares the files with that state, and the review goes
    on to admission as if the rejection never was."""
    start(chain)
    slot = _slot_dir(chain, "C002")
    copy = _snapshot(slot, tmp_path / "before-rejection")
    admission.review_application(chain.login("mike"), "A0001", "reject", "不符合公司业务方向")
    _put_back(copy, slot)
    _bless(chain, _tracked(chain, slot))
    chain.reopen()
    assert status_of(chain, "C002") == "applying"
    try:
        admit(chain)
    except ArchiveError:
        return  # refused: safe
    assert status_of(chain, "C002") == "admitted"
    # found: verify's rollback check (audit.state.recorded_state) takes `state` from every line, unchained
    # and unsigned; with the event above audit verify passes too
    assert problems(chain), "a rejected client admitted after a rollback blessed by an unsigned event; verify is clean"


def test_termination_record_deleted_and_blessed_by_an_unsigned_event(chain):
    """The newest record (the termination) deleted; an unsigned event records
    a base commit of the slot as it is now, so the deleted record counts as
    folded: verify sees nothing, the client is admitted again."""
    start(chain)
    admit(chain)
    standing.change_status(chain.login("mgmt"), "C002", "terminated", "终止合作")
    slot = _slot_dir(chain, "C002")
    _records(slot)[-1].unlink()
    _bless(chain, _tracked(chain, slot))
    chain.reopen()
    assert status_of(chain, "C002") == "admitted"
    assert problems(chain), "a termination cut off and blessed by an unsigned event passes verify"


# =====================================================================================
# 2. rollbacks of parts (no forged event): verify must find them
# =====================================================================================


def test_basic_slot_rolled_back_to_before_the_termination_is_found(chain, tmp_path):
    start(chain)
    admit(chain)
    slot = _slot_dir(chain, "C002")
    copy = _snapshot(slot, tmp_path / "before")
    standing.change_status(chain.login("mgmt"), "C002", "terminated", "终止合作")
    _put_back(copy, slot)
    chain.reopen()
    assert status_of(chain, "C002") == "admitted"  # the copy is valid on its own
    assert problems(chain, "C002"), "a termination rolled back is not found by verify"
    # a legitimate commit over the rolled-back slot does not wash it away
    standing.change_status(chain.login("carol"), "C002", "suspended", "逾期")
    assert problems(chain, "C002"), "a rollback written over by a later commit is no longer found"


def test_basic_slot_rolled_back_to_before_a_reassessment_is_found(chain, tmp_path):
    """The limit lowered by a re-assessment; the slot put back: the old, higher
    limit is the one the ledger checks against."""
    start(chain)
    admit(chain)
    slot = _slot_dir(chain, "C002")
    copy = _snapshot(slot, tmp_path / "before")
    standing.reassess_credit(chain.login("carol"), "C002", "C", "100000", "两笔逾期，下调额度")
    _put_back(copy, slot)
    chain.reopen()
    carol = chain.login("carol")
    entry = receivables.add_invoice(carol, "C002", "INV-1", "400000", "2027-01-01")
    assert entry.warnings == []  # 400000 is within the rolled-back 500000
    assert problems(chain, "C002"), "a re-assessment rolled back (limit raised again) is not found by verify"


def test_newest_record_deleted_after_a_suspension_is_found(chain):
    start(chain)
    admit(chain)
    standing.change_status(chain.login("carol"), "C002", "suspended", "逾期未付")
    slot = _slot_dir(chain, "C002")
    _records(slot)[-1].unlink()
    chain.reopen()
    assert status_of(chain, "C002") == "admitted"
    assert problems(chain, "C002"), "a suspension cut off is not found by verify"


def test_basic_slot_rolled_back_to_before_admission_is_found(chain, tmp_path):
    """Put back from after step 2 of the admission: the client is applying
    again and waits for legal; the steps are taken again."""
    start(chain)
    admission.review_application(chain.login("mike"), "A0001", "approve", "资质齐全")
    admission.review_application(chain.login("carol"), "A0001", "approve", "信用良好", {"rating": "A",
                                                                                     "limit": "500000"})
    slot = _slot_dir(chain, "C002")
    copy = _snapshot(slot, tmp_path / "step2")
    admission.review_application(chain.login("bob"), "A0001", "reject", "不合规")
    _put_back(copy, slot)
    chain.reopen()
    assert status_of(chain, "C002") == "applying"
    try:
        admission.review_application(chain.login("bob"), "A0001", "approve", "合规")
        admission.review_application(chain.login("mgmt"), "A0001", "approve", "同意准入")
    except ArchiveError:
        return
    assert problems(chain, "C002"), "legal's rejection rolled back and the admission finished: verify is clean"


def test_directory_rolled_back_to_before_the_application_is_found(chain, tmp_path):
    """directory.bin put back from before the application: the client is gone
    from the directory, its dossier (admitted, four signatures) orphaned; a new
    application takes the same code."""
    directory = _vault(chain) / "directory.bin"
    copy = _snapshot(directory, tmp_path / "directory.bin")
    start(chain)
    admit(chain)
    _put_back(copy, directory)
    chain.reopen()
    try:
        again = start(chain, name="宁波海鲜餐饮有限公司")
    except ArchiveError:
        again = None
    if again is not None:
        assert again.client == "C002"
    assert problems(chain), "the directory rolled back to before an admission is not found by verify"


def test_directory_rolled_back_to_before_the_admission_keeps_the_signed_status(chain, tmp_path):
    start(chain)
    directory = _vault(chain) / "directory.bin"
    copy = _snapshot(directory, tmp_path / "directory.bin")
    admit(chain)
    _put_back(copy, directory)
    chain.reopen()
    alice = chain.login("alice")
    assert standing.read_standing(alice, "C002").status == "admitted"
    assert admission.show_application(alice, "A0001").state == "admitted"
    assert [r.client for r in admission.list_applications(alice)] == []  # not in the queue again
    assert any("directory" in p for p in problems(chain))


def test_audit_log_truncated_after_the_admission(chain, tmp_path):
    """The log cut back to before management's approval (files left as they
    are): the newest files are on no event."""
    start(chain)
    admission.review_application(chain.login("mike"), "A0001", "approve", "资质齐全")
    log = chain.home.audit_log().path
    old = log.read_bytes()
    admit_rest = [("carol", {"rating": "A", "limit": "500000"}), ("bob", {}), ("mgmt", {})]
    for user, sets in admit_rest:
        admission.review_application(chain.login(user), "A0001", "approve", "同意", sets)
    log.write_bytes(old)
    home = chain.reopen()
    assert problems(chain, "C002"), "an admission cut from the audit log passes verify"
    with pytest.raises(ArchiveError):
        home.sign_in("mgmt", "mgmt-pw")


# --- a client's basic slot gone ----------------------------------------------------------


def test_basic_slot_deleted_does_not_make_a_rejected_client_admitted(chain):
    """Deleting the basic slot (keys.json and all) leaves no decisions: the
    standing then defaults to 'admitted', as for a client added before issue
    18, although the directory names the client's application."""
    start(chain)
    admission.review_application(chain.login("mike"), "A0001", "reject", "不符合")
    shutil.rmtree(_slot_dir(chain, "C002"))
    chain.reopen()
    assert problems(chain, "C002")  # verify finds the missing files
    try:
        st = standing.read_standing(chain.login("alice"), "C002")
    except ArchiveError:
        return
    # found: load_slot returns None without keys.json; check_decisions(None) is a client added before
    # issue 18, status 'admitted' (the page and CLI show it; verify does report the missing files)
    assert st.status != "admitted", "a rejected client whose basic slot was deleted reads (and shows) as admitted"


def test_dossier_directories_swapped_do_not_make_a_rejected_client_admitted(chain, tmp_path):
    """Whole dossier directories swapped (a rejected client's and an admitted
    one's): each slot's name is keyed to its dossier, so neither client finds
    its basic slot, and both read as clients without decisions."""
    start(chain)
    admission.review_application(chain.login("mike"), "A0001", "reject", "不符合")
    start(chain, name="宁波海鲜餐饮有限公司")
    admit(chain, "A0002")
    a, b = _slot_dir(chain, "C002").parent, _slot_dir(chain, "C003").parent
    shutil.move(a, tmp_path / "swap")
    shutil.move(b, a)
    shutil.move(tmp_path / "swap", b)
    chain.reopen()
    assert problems(chain, "C002")
    assert status_of(chain, "C002") in ("rejected", "refused"), "a rejected client reads as admitted after a swap"


def test_basic_slot_deleted_does_not_lift_the_credit_limit(chain):
    start(chain)
    admit(chain, limit="100000")
    carol = chain.login("carol")
    receivables.add_invoice(carol, "C002", "INV-1", "300000", "2027-01-01")
    assert {r.invoice for r in receivables.list_invoices(carol, over_limit=True)} == {"INV-1"}
    shutil.rmtree(_slot_dir(chain, "C002"))
    chain.reopen()
    carol = chain.login("carol")
    try:
        over = receivables.list_invoices(carol, over_limit=True)
    except ArchiveError:
        return
    assert {r.invoice for r in over} == {"INV-1"}, \
        "the basic slot deleted: the client has no limit, ledger list --over-limit shows nothing"


# =====================================================================================
# 3. amendments: the contract slot and the basic slot out of step
# =====================================================================================


def _contract(chain, tmp_path) -> str:
    src = tmp_path / "广告发布合同.txt"
    src.write_text("广告发布合同 HT-2026-001", encoding="utf-8")
    return filing.file_document(chain.login("bob"), src, "C001", "contract", title="广告发布合同",
                                date="2026-03-01", number="HT-2026-001").doc_id


def _draft(chain, tmp_path) -> str:
    """Drafted by lily (legal), so that bob decides it (the drafter may not)."""
    if "lily" not in chain.login("alice").users().users:
        accounts.add_user(chain.login("alice"), "lily", ["legal"], "lily-pw")
    return generating.generate(chain.login("lily"), "contract-amendment", "C001", dict(GIVEN),
                               tmp_path / "draft.docx", contract=_contract(chain, tmp_path)).doc_id


def test_contract_slot_rolled_back_to_before_the_approval_is_found(chain, tmp_path):
    doc = _draft(chain, tmp_path)
    slot = _slot_dir(chain, "C001", "contract")
    copy = _snapshot(slot, tmp_path / "contract")
    amendments.approve_amendment(chain.login("bob"), doc, "同意")
    _put_back(copy, slot)
    chain.reopen()
    found = problems(chain, "C001")
    assert any(doc in p for p in found), found


def test_basic_slot_rolled_back_to_before_the_approval_with_the_new_contract_slot(chain, tmp_path):
    doc = _draft(chain, tmp_path)
    basic = _slot_dir(chain, "C001")
    copy = _snapshot(basic, tmp_path / "basic")
    amendments.approve_amendment(chain.login("bob"), doc, "同意")
    _put_back(copy, basic)
    chain.reopen()
    rows = {r.doc_id: r for r in amendments.list_amendments(chain.login("bob"), "C001")}
    assert rows[doc].state == "draft"  # as the (rolled back) signed decisions say
    with pytest.raises(ArchiveError):
        amendments.approve_amendment(chain.login("bob"), doc, "再次同意")
    assert any(doc in p for p in problems(chain, "C001"))


def test_rejected_amendment_rolled_back_whole_and_blessed_then_approved(chain, tmp_path):
    """Both slots put back from before legal's rejection and blessed by an
    unsigned event: legal (not knowing) approves the draft it had rejected."""
    doc = _draft(chain, tmp_path)
    basic, contract = _slot_dir(chain, "C001"), _slot_dir(chain, "C001", "contract")
    copies = _snapshot(basic, tmp_path / "basic"), _snapshot(contract, tmp_path / "contract")
    amendments.reject_amendment(chain.login("bob"), doc, "金额变更未经财务确认，不同意")
    _put_back(copies[0], basic)
    _put_back(copies[1], contract)
    _bless(chain, {**_tracked(chain, basic), **_tracked(chain, contract)})
    chain.reopen()
    try:
        amendments.approve_amendment(chain.login("bob"), doc, "同意")
    except ArchiveError:
        return
    assert problems(chain, "C001"), "a rejected amendment approved after a blessed rollback; verify is clean"


# =====================================================================================
# 4. the policy: rolled back, edited
# =====================================================================================


ARCHIVE_CHECK = ('[[admission.steps]]\nid = "archive-check"\nname = "归档审核"\ndepartment = "archive"\n'
                 'opinion_type = "admission-decision"\n\n[[admission.steps]]\nid = "management"')


def _add_step(chain) -> None:
    path = chain.root / "policies" / "admission.toml"
    path.write_text(path.read_text(encoding="utf-8").replace('[[admission.steps]]\nid = "management"',
                                                             ARCHIVE_CHECK), encoding="utf-8")
    accounts.sync_policy(chain.login("alice", check_policy_files=False))


def test_policy_rolled_back_does_not_let_an_application_skip_a_step(chain, tmp_path):
    """An admin added a fifth step (archive-check) and signed it. The file
    writer puts back policy.json and policies/admission.toml from before
    (validly signed, older): a CLI session (ArchiveHome.login) starts an
    application under the four steps; the current files are put back; the
    application is admitted without the fifth step."""
    policy_json = _vault(chain) / "policy.json"
    toml = chain.root / "policies" / "admission.toml"
    old = _snapshot(policy_json, tmp_path / "old" / "policy.json"), _snapshot(toml, tmp_path / "old" / "a.toml")
    _add_step(chain)
    new = _snapshot(policy_json, tmp_path / "new" / "policy.json"), _snapshot(toml, tmp_path / "new" / "a.toml")
    _put_back(old[0], policy_json)
    _put_back(old[1], toml)
    chain.reopen()
    try:
        started = start(chain)
    except ArchiveError:
        return  # refused: safe
    _put_back(new[0], policy_json)
    _put_back(new[1], toml)
    chain.reopen()
    try:
        admit(chain, started.application)
    except ArchiveError:
        return
    st = standing.read_standing(chain.login("alice"), started.client)
    if st.status == "admitted":
        # found: ArchiveHome.login (the CLI) never compares policy.json with the log (only sign_in does),
        # and _check_opening accepts any admin-signed policy in the apply entry, not the one in force
        assert problems(chain), \
            "admitted with four signatures under a policy that requires five; verify is clean"


def test_policy_rolled_back_is_refused_by_a_server_sign_in(chain, tmp_path):
    policy_json = _vault(chain) / "policy.json"
    toml = chain.root / "policies" / "admission.toml"
    old = _snapshot(policy_json, tmp_path / "old" / "policy.json"), _snapshot(toml, tmp_path / "old" / "a.toml")
    _add_step(chain)
    _put_back(old[0], policy_json)
    _put_back(old[1], toml)
    home = chain.reopen()
    with pytest.raises(ArchiveError):
        home.sign_in("erin", "erin-pw")


EDITS = {
    "step removed": ('[[admission.steps]]\nid = "legal"\nname = "合规审查"\ndepartment = "legal"\n'
                     'opinion_type = "legal-review"\n\n', ""),
    "applicant changed": ('applicants = ["business"]', 'applicants = ["business", "marketing"]'),
    "chain emptied": None,
}


def _edit_admission(chain, how: str) -> None:
    path = chain.root / "policies" / "admission.toml"
    text = path.read_text(encoding="utf-8")
    if EDITS[how] is None:
        path.write_text("", encoding="utf-8")
        return
    old, new = EDITS[how]
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


@pytest.mark.parametrize("how", list(EDITS))
def test_admission_toml_edited_on_disk_is_refused_until_signed(chain, how):
    running = chain.login("erin")  # a server's session from before the edit
    _edit_admission(chain, how)
    home = chain.reopen()
    with pytest.raises(PolicyError):
        chain.login("erin")
    with pytest.raises(ArchiveError):
        home.sign_in("erin", "erin-pw")
    # a session that opened anyway (policy diff/sync's) or a running one uses only the signed chain
    for s in (chain.login("erin", check_policy_files=False), running):
        started = admission.start_application(s, NAME if s is running else "宁波海鲜餐饮有限公司",
                                              dict(APPLICATION))
        view = admission.show_application(chain.login("alice", check_policy_files=False), started.application)
        assert [x["id"] for x in view.steps] == ["marketing", "credit", "legal", "management"]
        assert view.department == "business"
    with pytest.raises(ArchiveError):  # marketing is no applicant under the signed policy
        admission.start_application(chain.login("mike", check_policy_files=False), "温州鞋业", dict(APPLICATION))


def test_policy_json_edited_without_a_signature_is_not_acted_on(chain):
    """The legal step taken out of the signed copy (policy.json) and of
    policies/admission.toml alike, so the files agree; the endorsement no
    longer covers the text."""
    running = chain.login("erin")
    path = _vault(chain) / "policy.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    old, new = EDITS["step removed"]
    data["files"]["admission.toml"] = data["files"]["admission.toml"].replace(old, new)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    (chain.root / "policies" / "admission.toml").write_text(data["files"]["admission.toml"], encoding="utf-8")
    home = chain.reopen()
    for login in (lambda: chain.login("erin"), lambda: chain.login("erin", check_policy_files=False),
                  lambda: home.sign_in("erin", "erin-pw")):
        with pytest.raises(ArchiveError):
            login()
    # a running session holds its signed copy, and starts nothing while the file on disk is not the one recorded
    assert running.signed_policy.policy().admission.steps[2].id == "legal"
    with pytest.raises(ArchiveError):
        admission.start_application(running, NAME, dict(APPLICATION))


def test_users_json_edited_is_not_acted_on(chain):
    """erin given the marketing department in users.json (unsigned): refused at
    sign-in and by a running session's next operation."""
    start(chain)
    running = chain.login("mike")
    path = _vault(chain) / "users.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    users = data["users"] if "users" in data else data
    users["erin"]["departments"] = ["business", "marketing"]
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    home = chain.reopen()
    with pytest.raises(ArchiveError):
        chain.login("erin")
    with pytest.raises(ArchiveError):
        home.sign_in("erin", "erin-pw")
    with pytest.raises(ArchiveError):
        admission.review_application(running, "A0001", "approve", "ok")


# =====================================================================================
# 5. templates replaced on disk (the .docx are in no signature)
# =====================================================================================


def test_admission_form_is_not_rendered_from_a_replaced_template(chain, tmp_path):
    """templates/admission-form.docx replaced before management's approval: the
    filed admission form states a credit limit no one signed."""
    start(chain)
    _patched_docx(chain.home.settings.templates_dir / "admission-form.docx", "{{ credit.limit|money }}",
                  "99,999,999.00")
    try:
        done = admit(chain)
    except ArchiveError:
        return  # refused: safe
    text = _doc_text(chain.login("alice"), done.admission_form, None, tmp_path)
    # found: the .docx is in no signature (catalog.toml names the file, not its hash); render_form uses it
    assert "99,999,999.00" not in text, \
        "the admission form was rendered from an unsigned template: it shows a limit nobody signed"


def test_final_amendment_is_not_other_text_than_the_draft_legal_approved(chain, tmp_path):
    """contract-amendment.docx replaced before the draft with one whose text
    differs when ``draft`` is off: legal reads and approves the draft, the
    final filed as approved says something else (the template's SHA-256 is
    the same at both renderings, so the approval's check passes)."""
    _patched_docx(chain.home.settings.templates_dir / "contract-amendment.docx", "{% endif %}",
                  "{% else %}（补充：" + FORGED + "）{% endif %}")
    try:
        doc = _draft(chain, tmp_path)
    except ArchiveError:
        return
    bob = chain.login("bob")
    draft_text = _doc_text(bob, doc, 1, tmp_path)
    assert MARK in draft_text and FORGED not in draft_text  # what legal reads
    try:
        done = amendments.approve_amendment(bob, doc, "变更内容合规，同意")
    except ArchiveError:
        return
    final_text = _doc_text(chain.login("bob"), doc, done.final_version, tmp_path)
    # found: _final_text only checks the template is the one the draft used, not that it is a signed one
    assert FORGED not in final_text, "the approved final amendment carries text that was not in the draft"


def test_draft_amendment_is_not_rendered_from_a_template_without_its_mark(chain, tmp_path):
    """The mark taken out of the .docx (the signed catalog still declares
    ``draft``): the filed draft reads as final."""
    tpl = chain.home.settings.templates_dir / "contract-amendment.docx"
    _patched_docx(tpl, MARK, "")
    _patched_docx(tpl, "草稿：本协议尚未审批，不得签署、盖章或发出。", "")
    try:
        doc = _draft(chain, tmp_path)
    except ArchiveError:
        return
    assert MARK in _doc_text(chain.login("bob"), doc, 1, tmp_path), "a draft amendment was filed without its mark"


def test_amendment_template_replaced_after_the_draft_is_refused_at_approval(chain, tmp_path):
    doc = _draft(chain, tmp_path)
    _patched_docx(chain.home.settings.templates_dir / "contract-amendment.docx", "{% endif %}",
                  "{% else %}（补充：" + FORGED + "）{% endif %}")
    with pytest.raises(ArchiveError):
        amendments.approve_amendment(chain.login("bob"), doc, "同意")
