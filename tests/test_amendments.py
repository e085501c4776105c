"""Contract amendments through approval (issue 18.5): ``generate
contract-amendment`` files a draft, marked in its text and its metadata;
legal approves it (the final text filed as the next version, the decision
signed over the draft's and the final's SHA-256) or rejects it."""

from __future__ import annotations

import io
from datetime import datetime, timezone
from pathlib import Path

import pytest

from archive_manager import accounts, amendments, filing, generating, reading, standing, verify
from archive_manager.decisions import DecisionError
from archive_manager.errors import AccessDenied, ArchiveError, ConflictError, NotFound, PolicyError, UsageError
from archive_manager.generation.catalog import parse_catalog
from archive_manager.runtime import Runtime
from archive_manager.session import Recording
from tests.generation.test_render import text_of

GIVEN = {"changes": [{"clause": "第三条 合同金额", "original": "人民币 480,000 元", "new": "人民币 520,000 元"}],
         "effective": "2026-12-01"}
MARK = "（草稿 DRAFT）"
WARNING = "草稿：本协议尚未审批，不得签署、盖章或发出。"


@pytest.fixture
def arch(letterhead):
    """The letterhead, and lily, a second member of legal: she drafts, bob approves."""
    accounts.add_user(letterhead.login("alice"), "lily", ["legal"], "lily-pw")
    return letterhead


def test_the_drafter_does_not_decide_their_own_draft(arch, tmp_path):
    r, _ = draft(arch, tmp_path)
    for decide in (amendments.approve_amendment, amendments.reject_amendment):
        with pytest.raises(AccessDenied) as exc:
            decide(at(arch, "lily"), r.doc_id, "同意")
        assert exc.value.code == "four-eyes"
    assert arch.reporter.events[-1].outcome == "denied"
    assert amendments.approve_amendment(at(arch, "bob"), r.doc_id, "同意").state == "approved"


def at(arch, user: str, day: str = "2026-11-26"):
    arch.home.runtime = Runtime(now=lambda: datetime.fromisoformat(day).replace(tzinfo=timezone.utc))
    return arch.login(user)


def contract(arch, tmp_path) -> str:
    src = tmp_path / "广告发布合同.txt"
    src.write_text("广告发布合同 HT-2026-001", encoding="utf-8")
    return filing.file_document(at(arch, "bob"), src, "C001", "contract", title="广告发布合同", date="2026-03-01",
                                number="HT-2026-001").doc_id


def draft(arch, tmp_path, user: str = "lily", name: str = "draft.docx"):
    out = tmp_path / name
    r = generating.generate(at(arch, user), "contract-amendment", "C001", dict(GIVEN), out,
                            contract=contract(arch, tmp_path))
    return r, out


def version_text(session, doc_id: str, version: int, tmp_path: Path) -> str:
    sink = io.BytesIO()
    reading.read_document(session, doc_id, sink, version)
    path = tmp_path / f"{doc_id}-v{version}.docx"
    path.write_bytes(sink.getvalue())
    return text_of(path)


def register(session, doc_id: str) -> dict:
    return reading.locate(session, doc_id).slot.meta[amendments.REGISTER][doc_id]


def problems(session) -> list[str]:
    return amendments.amendment_problems(session, "C001", standing.read_standing(session, "C001"))


def forge(session, access_class: str, change) -> None:
    """Change a slot's metadata as a holder of its key could, outside the archive's rules."""
    with session.recorded("forge"), session.transaction() as tx:
        slot, created = session.slot_to_write("C001", access_class)
        change(slot.meta)
        session.stage_slot(tx, slot, created)


# --- the draft ---------------------------------------------------------------


def test_a_generated_amendment_is_a_draft_in_its_text_and_its_metadata(arch, tmp_path):
    r, out = draft(arch, tmp_path)
    lines = text_of(out).splitlines()
    assert lines[0] == "合同变更协议" + MARK and WARNING in lines
    assert "第三条 合同金额 | 人民币 480,000 元 | 人民币 520,000 元" in text_of(out)
    bob = at(arch, "bob")
    found = reading.locate(bob, r.doc_id)
    assert found.doc["title"] == "合同变更协议（北京星辰传媒有限公司）（草稿）"
    assert found.doc["type"] == "contract-amendment" and found.slot.access_class == "contract"
    entry = register(bob, r.doc_id)
    assert entry["state"] == "draft" and entry["draft"] == {"version": 1, "sha256": found.doc["versions"][0]["sha256"]}
    assert entry["context"]["changes"] == GIVEN["changes"] and "draft" not in entry["context"]
    assert entry["drafted_by"] == "lily"
    assert version_text(bob, r.doc_id, 1, tmp_path) == text_of(out)  # the filed draft is the one written
    filed = [e for e in arch.reporter.events if e.action == "file"][-1]
    assert filed.objects["draft"] is True and filed.objects["doc_id"] == r.doc_id
    rows = amendments.list_amendments(bob)
    assert [(x.doc_id, x.state, x.draft_version, x.final_version) for x in rows] == [(r.doc_id, "draft", 1, None)]
    assert amendments.list_amendments(bob, pending=True) == rows
    assert problems(bob) == []


def test_an_amendment_not_filed_is_marked_a_draft_all_the_same(arch, tmp_path):
    out = tmp_path / "preview.docx"
    r = generating.generate(at(arch, "bob"), "contract-amendment", "C001", dict(GIVEN), out,
                            contract=contract(arch, tmp_path), file_back=False)
    assert r.doc_id is None and text_of(out).startswith("合同变更协议" + MARK)
    assert amendments.list_amendments(at(arch, "bob")) == []


def test_the_draft_mark_cannot_be_set_by_the_user(arch, tmp_path):
    with pytest.raises(UsageError, match="'draft' is filled in by the archive"):
        generating.generate(at(arch, "bob"), "contract-amendment", "C001", {**GIVEN, "draft": 0},
                            tmp_path / "x.docx", contract=contract(arch, tmp_path))
    assert not (tmp_path / "x.docx").exists()


def test_a_template_without_the_draft_mark_is_refused(arch):
    legacy = Path(__file__).parent / "fixtures" / "issue13-archive" / "templates" / "catalog.toml"
    spec = parse_catalog(legacy.read_text(encoding="utf-8"))["contract-amendment"]
    with pytest.raises(UsageError) as exc:
        generating._draft_mark(at(arch, "bob"), spec)
    assert exc.value.code == "no-draft-mark" and "would read as final" in exc.value.message


# --- approval ------------------------------------------------------------------


def test_legal_approves_and_the_final_text_is_filed_without_the_mark(arch, tmp_path):
    r, out = draft(arch, tmp_path, user="alice")  # drafted by an archive administrator
    bob = at(arch, "bob", "2026-11-27")
    done = amendments.approve_amendment(bob, r.doc_id, "变更内容合规，同意")
    assert (done.state, done.draft_version, done.final_version, done.client) == ("approved", 1, 2, "C001")
    final = version_text(bob, r.doc_id, 2, tmp_path)
    assert "草稿" not in final and "DRAFT" not in final and final.splitlines()[0] == "合同变更协议"
    drafted = [line.replace(MARK, "") for line in text_of(out).splitlines() if line != WARNING]
    assert final.splitlines() == drafted  # the text approved, without the mark
    found = reading.locate(bob, r.doc_id)
    assert found.doc["title"] == "合同变更协议（北京星辰传媒有限公司）"
    v1, v2 = found.doc["versions"]
    assert (v2["sha256"], v2["filed_by"], v2["date"]) == (done.final_sha256, "bob", "2026-11-27")
    assert v1["sha256"] == done.draft_sha256
    decision = standing.read_standing(bob, "C001").amendments[r.doc_id]
    assert (decision["user"], decision["department"], decision["decision"]) == ("bob", "legal", "approve")
    assert decision["draft"] == {"version": 1, "sha256": v1["sha256"]}
    assert decision["final"] == {"version": 2, "sha256": v2["sha256"]}
    assert decision["n"] == done.signed
    entry = register(bob, r.doc_id)
    assert entry["state"] == "approved" and entry["opinion"] == "变更内容合规，同意" and entry["decided_by"] == "bob"
    assert problems(bob) == [] and problems(at(arch, "alice")) == []
    [row] = amendments.list_amendments(bob, "C001")
    assert (row.state, row.decided_by, row.final_version, row.title) == ("approved", "bob", 2,
                                                                        "合同变更协议（北京星辰传媒有限公司）")
    assert amendments.list_amendments(bob, pending=True) == []
    [event] = [e for e in arch.reporter.events if e.action == "amendment-approve"]
    assert (event.action, event.outcome, event.objects["doc_id"]) == ("amendment-approve", "ok", r.doc_id)
    assert done.to_dict()["final_version"] == 2
    report = verify.verify_vault(at(arch, "alice"))
    assert report.ok, report.problems


def test_only_legal_approves_and_every_refusal_is_recorded(arch, tmp_path):
    r, _ = draft(arch, tmp_path)
    for user in ("alice", "carol"):  # the administrator, the credit department
        with pytest.raises(AccessDenied) as exc:
            amendments.approve_amendment(at(arch, user), r.doc_id, "同意")
        assert exc.value.code == "wrong-department"
        event = arch.reporter.events[-1]
        assert (event.action, event.outcome, event.user) == ("amendment-approve", "denied", user)
    with pytest.raises(AccessDenied):
        amendments.reject_amendment(at(arch, "carol"), r.doc_id, "不同意")
    assert arch.reporter.events[-1].action == "amendment-reject" and arch.reporter.events[-1].outcome == "denied"
    bob = at(arch, "bob")
    assert len(reading.locate(bob, r.doc_id).doc["versions"]) == 1
    assert register(bob, r.doc_id)["state"] == "draft" and standing.read_standing(bob, "C001").amendments == {}


def test_an_amendment_is_decided_once(arch, tmp_path):
    r, _ = draft(arch, tmp_path)
    bob = at(arch, "bob")
    amendments.approve_amendment(bob, r.doc_id, "同意")
    for decide in (amendments.approve_amendment, amendments.reject_amendment):
        with pytest.raises(ConflictError) as exc:
            decide(bob, r.doc_id, "再次")
        assert exc.value.code == "already-decided" and "already decided: approved by bob" in exc.value.message
        assert arch.reporter.events[-1].outcome == "error"
    assert len(reading.locate(bob, r.doc_id).doc["versions"]) == 2


def test_only_a_draft_amendment_is_decided(arch, tmp_path):
    r, _ = draft(arch, tmp_path)
    bob = at(arch, "bob")
    the_contract = register(bob, r.doc_id)["contract"]
    with pytest.raises(ConflictError, match="is not a draft amendment"):
        amendments.approve_amendment(bob, the_contract, "同意")
    src = tmp_path / "手写变更协议.txt"
    src.write_text("合同变更协议（手写）", encoding="utf-8")
    by_hand = filing.file_document(bob, src, "C001", "contract-amendment").doc_id
    with pytest.raises(ConflictError) as exc:
        amendments.approve_amendment(bob, by_hand, "同意")
    assert exc.value.code == "not-a-draft"
    with pytest.raises(NotFound):
        amendments.approve_amendment(bob, "C001-aaaaaaaa", "同意")
    with pytest.raises(UsageError):
        amendments.approve_amendment(bob, r.doc_id, "  ")  # an opinion needs its text
    src.write_text("改过的草稿", encoding="utf-8")  # a version filed over the draft is not what was drafted
    filing.file_document(bob, src, "C001", "contract-amendment", replaces=r.doc_id)
    with pytest.raises(ConflictError) as exc:
        amendments.approve_amendment(bob, r.doc_id, "同意")
    assert exc.value.code == "draft-changed"


def test_a_changed_template_does_not_make_the_final_text(arch, tmp_path):
    r, _ = draft(arch, tmp_path)
    bob = at(arch, "bob")  # signed in before: a later sign-in refuses the unsigned template outright
    template = arch.home.settings.templates_dir / "contract-amendment.docx"
    template.write_bytes(template.read_bytes() + b"\0")
    with pytest.raises(PolicyError) as exc:  # not the template an admin signed
        amendments.approve_amendment(bob, r.doc_id, "同意")
    assert exc.value.code == "policy-unsigned"
    with pytest.raises(PolicyError):
        at(arch, "bob")


def test_an_approval_is_one_commit(arch, tmp_path, monkeypatch):
    r, _ = draft(arch, tmp_path)

    def fail(*a, **kw):
        raise ArchiveError("signing failed")
    monkeypatch.setattr(amendments, "sign_decision", fail)
    with pytest.raises(ArchiveError, match="signing failed"):
        amendments.approve_amendment(at(arch, "bob"), r.doc_id, "同意")
    bob = at(arch, "bob")
    assert len(reading.locate(bob, r.doc_id).doc["versions"]) == 1 and register(bob, r.doc_id)["state"] == "draft"
    assert verify.verify_vault(at(arch, "alice")).ok
    monkeypatch.undo()
    assert amendments.approve_amendment(bob, r.doc_id, "同意").final_version == 2


def test_a_rejected_amendment_stays_a_draft(arch, tmp_path):
    r, out = draft(arch, tmp_path)
    bob = at(arch, "bob")
    done = amendments.reject_amendment(bob, r.doc_id, "第三条变更缺少依据")
    assert (done.state, done.final_version, done.final_sha256) == ("rejected", None, None)
    found = reading.locate(bob, r.doc_id)
    assert len(found.doc["versions"]) == 1 and found.doc["title"].endswith("（草稿）")
    decision = standing.read_standing(bob, "C001").amendments[r.doc_id]
    assert decision["decision"] == "reject" and "final" not in decision
    assert problems(bob) == []
    assert [x.state for x in amendments.list_amendments(bob)] == ["rejected"]
    with pytest.raises(ConflictError):
        amendments.approve_amendment(bob, r.doc_id, "同意")


# --- what verify finds ---------------------------------------------------------


def test_an_edited_decision_is_detected(arch, tmp_path):
    r, _ = draft(arch, tmp_path)
    bob = at(arch, "bob")
    amendments.approve_amendment(bob, r.doc_id, "同意")

    def edit(meta):
        decisions = [dict(e) for e in meta["decisions"]]
        decisions[-1]["final"] = {"version": 1, "sha256": decisions[-1]["draft"]["sha256"]}  # "the draft is final"
        meta["decisions"] = decisions
    forge(at(arch, "alice"), "basic", edit)
    with pytest.raises(DecisionError, match="does not carry that user's signature"):
        standing.read_standing(at(arch, "bob"), "C001")


def test_a_decision_signed_outside_legal_is_refused(arch, tmp_path):
    r, _ = draft(arch, tmp_path)
    alice = at(arch, "alice")
    entry = register(alice, r.doc_id)

    def sign(meta):
        slot = type("S", (), {"meta": meta, "dossier": reading.locate(alice, r.doc_id).slot.dossier})()
        standing.sign_decision(alice, slot, "amendment", {"doc": r.doc_id, "decision": "approve",
                                                          "draft": entry["draft"]}, "archive", Recording({}))
    forge(alice, "basic", sign)
    with pytest.raises(DecisionError, match="approved by the approving department"):
        standing.read_standing(alice, "C001")


def test_a_register_that_disagrees_with_the_decisions_is_a_problem(arch, tmp_path):
    r, _ = draft(arch, tmp_path)
    other, _ = draft(arch, tmp_path, name="other.docx")
    bob = at(arch, "bob")
    amendments.approve_amendment(bob, r.doc_id, "同意")

    def edit(meta):
        reg = {k: dict(v) for k, v in meta[amendments.REGISTER].items()}
        reg[r.doc_id]["state"] = "draft"  # approved, but marked a draft again
        reg[r.doc_id]["opinion"] = "不同意"  # not what bob signed
        reg[other.doc_id]["state"] = "approved"  # marked approved without a decision
        reg[other.doc_id]["final"] = {"version": 1, "sha256": reg[other.doc_id]["draft"]["sha256"]}
        meta[amendments.REGISTER] = reg
    forge(bob, "contract", edit)
    found = problems(at(arch, "bob"))
    assert any(r.doc_id in p and "marked 'draft'" in p and "without its final version" in p for p in found), found
    assert any(other.doc_id in p and "no signed decision" in p for p in found), found
    assert any(r.doc_id in p and "the opinion on record is not the one signed" in p for p in found), found


def test_a_decision_naming_other_content_is_a_problem(arch, tmp_path):
    """A legal user's valid signature over a final that is not the one filed."""
    r, _ = draft(arch, tmp_path)
    bob = at(arch, "bob")
    draft_entry = register(bob, r.doc_id)["draft"]

    def sign(meta):
        slot = type("S", (), {"meta": meta, "dossier": reading.locate(bob, r.doc_id).slot.dossier})()
        standing.sign_decision(bob, slot, "amendment", {"doc": r.doc_id, "decision": "approve",
                                                        "draft": draft_entry,
                                                        "final": {"version": 2, "sha256": "0" * 64}}, "legal",
                               Recording({}))
    forge(bob, "basic", sign)
    found = problems(at(arch, "bob"))
    assert any("final version 2 is missing" in p for p in found), found
    assert any("marked 'draft'" in p for p in found), found
    assert amendments.list_amendments(at(arch, "bob"))[0].state == "approved"  # what the signed decision says


def test_the_verify_helper_says_nothing_without_the_contract_key(arch, tmp_path):
    r, _ = draft(arch, tmp_path)
    amendments.approve_amendment(at(arch, "bob"), r.doc_id, "同意")
    carol = at(arch, "carol")  # credit: reads basic, not contract
    assert amendments.amendment_problems(carol, "C001", standing.read_standing(carol, "C001")) == []
    with pytest.raises(AccessDenied):
        amendments.list_amendments(carol)
