"""``archive generate`` through the library: data from the dossier, the ledger
and given values; the result filed back, linked to its sources, audited."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from archive_manager import accounts, clients, documents, filing, generating, reading, receivables, searching
from archive_manager.errors import AccessDenied, ConflictError, UsageError
from archive_manager.generation.catalog import parse_catalog
from archive_manager.generation.render import render
from archive_manager.runtime import Runtime
from archive_manager.cli.hints import cli_hint
from archive_manager.cli.pairs import parse_given
from tests.conftest import sign_letterhead
from tests.generation.test_render import make_template, text_of

COMPANY = 'name = "北京某某广告有限公司"\naddress = "北京市朝阳区建国路1号"\nphone = "010-1"\n' \
          'bank = "工商银行"\naccount = "0200"\n'


@pytest.fixture
def arch(archive):
    sign_letterhead(archive, COMPANY)
    return archive


def at(arch, user: str, day: str):
    arch.home.runtime = Runtime(now=lambda: datetime.fromisoformat(day).replace(tzinfo=timezone.utc))
    return arch.login(user)


def test_dunning_letter_from_the_ledger_is_filed_linked_and_escalates(arch, tmp_path):
    carol = at(arch, "carol", "2026-11-01")
    receivables.add_invoice(carol, "C001", "INV-0042", "128000.00", "2026-09-30")
    receivables.add_invoice(carol, "C001", "INV-0043", "16409.02", "2026-10-20")
    r = generating.generate(carol, "dunning-letter", "C001", out=tmp_path / "l1.docx")
    assert r.level == 2 and r.derived_from == ["invoice:INV-0042", "invoice:INV-0043"]
    text = text_of(tmp_path / "l1.docx")
    assert text.startswith("催款函") and "北京星辰传媒有限公司：" in text
    assert "人民币 144,409.02 元（大写：壹拾肆万肆仟肆佰零玖元零贰分）" in text
    assert "INV-0042 |  | 2026年9月30日 | 128,000.00 | 32" in text
    assert "请贵司于 2026年11月11日 前" in text  # level 2: ten days
    row = next(x for x in reading.list_documents(carol, "C001") if x.doc_id == r.doc_id)
    assert (row.type, row.access_class) == ("dunning-letter", "credit")
    hits = searching.search(carol, "壹拾肆万肆仟肆佰零玖元零贰分").hits
    assert [h.doc_id for h in hits] == [r.doc_id]
    with pytest.raises(AccessDenied):
        searching.search(arch.login("bob"), "催款", doc_type="dunning-letter")
    event = [e for e in arch.reporter.events if e.action == "generate"][-1]
    assert event.objects["template"] == "dunning-letter" and len(event.objects["template_sha256"]) == 64
    # two weeks after the demand, the next letter is the final notice
    r2 = generating.generate(at(arch, "carol", "2026-11-15"), "dunning-letter", "C001", out=tmp_path / "l2.docx")
    assert r2.level == 3 and text_of(tmp_path / "l2.docx").startswith("最后催告函")


def test_admission_form_lists_every_missing_value_then_renders(arch, tmp_path):
    alice = at(arch, "alice", "2026-11-26")
    with pytest.raises(UsageError) as exc:
        generating.generate(alice, "admission-form", "C001", out=tmp_path / "f.docx")
    assert exc.value.message == ("template admission-form needs values for: budget, business.need, "
                                 "client.address")
    assert not (tmp_path / "f.docx").exists()
    given = parse_given(["business.need=年度品牌投放", "budget=500000",
                                    "client.address=北京市朝阳区建国路88号"], None)
    r = generating.generate(alice, "admission-form", "C001", given, tmp_path / "f.docx")
    text = text_of(tmp_path / "f.docx")
    assert "客户名称 | 北京星辰传媒有限公司" in text and "法定代表人 | 张伟" in text
    assert "500,000.00（大写：伍拾万元整）" in text and "2026年11月26日" in text
    assert r.doc_id.startswith("C001-")


def test_contract_amendment_is_linked_to_its_contract(arch, tmp_path):
    bob = at(arch, "bob", "2026-11-26")
    src = tmp_path / "合同.txt"
    src.write_text("广告发布合同 HT-2026-001", encoding="utf-8")
    contract = filing.file_document(bob, src, "C001", "contract", title="广告发布合同", date="2026-03-01")
    given = {"changes": [{"clause": "第三条 合同金额", "original": "480,000 元", "new": "520,000 元"}],
             "effective": "2026-12-01", "client": {"legal_rep": "张伟"}}
    r = generating.generate(bob, "contract-amendment", "C001", given, tmp_path / "a.docx", contract=contract.doc_id)
    assert r.derived_from == [contract.doc_id]
    text = text_of(tmp_path / "a.docx")
    assert "《广告发布合同》" in text and "2026年3月1日" in text and "第三条 合同金额 | 480,000 元 | 520,000 元" in text
    found = reading.locate(bob, r.doc_id)
    assert found.doc["type"] == "contract-amendment" and found.doc["versions"][-1]["derived_from"] == [contract.doc_id]


def test_rights_are_checked_before_anything_is_written(arch, tmp_path):
    alice = arch.login("alice")
    accounts.add_user(alice, "mona", ["marketing"], "mona-pw")
    with pytest.raises(AccessDenied):
        generating.generate(arch.login("mona"), "admission-form", "C001", out=tmp_path / "x.docx")
    with pytest.raises(AccessDenied):  # legal may generate, but not from the credit ledger
        generating.generate(arch.login("bob"), "dunning-letter", "C001", out=tmp_path / "y.docx")
    assert not (tmp_path / "x.docx").exists() and not (tmp_path / "y.docx").exists()


def test_overdue_batch_picks_exactly_the_overdue_clients(arch, tmp_path):
    alice = arch.login("alice")
    clients.add_client(alice, "C002", "上海明月广告有限公司")
    clients.add_client(alice, "C003", "广州晨星传媒有限公司")
    carol = at(arch, "carol", "2026-11-01")
    receivables.add_invoice(carol, "C001", "INV-1", "100", "2026-10-25")   # 7 days
    receivables.add_invoice(carol, "C002", "INV-2", "200", "2026-09-01")   # 61 days
    receivables.add_invoice(carol, "C003", "INV-3", "300", "2026-12-01")   # not yet due
    assert generating.overdue_clients(carol) == ["C001", "C002"]
    assert generating.overdue_clients(carol, min_days=30) == ["C002"]
    levels = {c: generating.generate(carol, "dunning-letter", c, out=tmp_path / f"{c}.docx").level
              for c in generating.overdue_clients(carol)}
    assert levels == {"C001": 1, "C002": 3}
    with pytest.raises(UsageError, match="nothing overdue"):
        generating.generate(carol, "dunning-letter", "C003", out=tmp_path / "C003.docx")


def test_no_file_writes_the_document_only(arch, tmp_path):
    carol = at(arch, "carol", "2026-11-01")
    receivables.add_invoice(carol, "C001", "INV-1", "100", "2026-10-25")
    before = len(reading.list_documents(carol))
    r = generating.generate(carol, "dunning-letter", "C001", out=tmp_path / "p.docx", file_back=False)
    assert r.doc_id is None and (tmp_path / "p.docx").exists()
    assert len(reading.list_documents(carol)) == before


def test_home_without_company_settings_names_the_letterhead(archive, tmp_path):
    carol = archive.login("carol")
    receivables.add_invoice(carol, "C001", "INV-1", "100", "2020-10-25")
    with pytest.raises(UsageError) as exc:
        generating.generate(carol, "dunning-letter", "C001", out=tmp_path / "p.docx")
    assert "company.name" in exc.value.message and "policies/company.toml" in cli_hint(exc.value)


def test_dunning_thresholds_come_from_the_settings(arch, tmp_path):
    cfg = arch.home.settings.config_path
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("thresholds = [1, 30, 60]", "thresholds = [1, 5, 10]"),
                   encoding="utf-8")
    arch.reopen()
    carol = at(arch, "carol", "2026-11-01")
    receivables.add_invoice(carol, "C001", "INV-1", "100", "2026-10-25")  # 7 days: level 2 under these thresholds
    assert generating.generate(carol, "dunning-letter", "C001", out=tmp_path / "l.docx").level == 2


# --- values the archive derives cannot be given ----------------------------------------------------

SPOOFS = [
    ("dunning-letter", {"total": "1.00"}, "'total' is computed from the ledger and cannot be set", "--level"),
    ("dunning-letter", {"level": "1"}, "'level' is computed from the ledger and cannot be set", "--level"),
    ("dunning-letter", {"invoices": []}, "'invoices' is computed from the ledger and cannot be set", "archive ledger"),
    ("dunning-letter", {"deadline": "2099-01-01"}, "'deadline' is computed from the ledger and cannot be set", None),
    ("dunning-letter", {"client": {"name": "别的公司"}}, "'client.name' comes from the client's profile and cannot be "
                                                       "set", "archive client show C001"),
    ("dunning-letter", {"client": "别的公司"}, "'client' comes from the client's profile and cannot be set", None),
    ("dunning-letter", {"today": "2020-01-01"}, "'today' is filled in by the archive and cannot be set", None),
    ("dunning-letter", {"letter_no": "X-1"}, "'letter_no' is filled in by the archive and cannot be set", None),
    ("dunning-letter", {"company": {"name": "冒名公司"}}, "'company.name' is filled in by the archive and cannot be set",
     "policies/company.toml"),
    ("dunning-letter", {"note": "x"}, "template dunning-letter has no value 'note'", "takes no values"),
    ("admission-form", {"client": {"legal_rep": "李四"}, "budget": "1", "business": {"need": "x"}},
     "'client.legal_rep' comes from the client's profile and cannot be set", None),
    ("admission-form", {"client": {"code": "C002"}}, "'client.code' comes from the client's profile and cannot be set",
     None),
    ("admission-form", {"applicant": "alice"}, "'applicant' is filled in by the archive and cannot be set", None),
    ("admission-form", {"applicant": {"department": "业务部"}},
     "'applicant.department' is filled in by the archive and cannot be set", None),
    ("dunning-letter", {"earlier_letters": []}, "'earlier_letters' is computed from the ledger and cannot be set",
     None),
    ("admission-form", {"buget": "500000"}, "template admission-form has no value 'buget'",
     "values admission-form takes: budget, business.channels, business.need"),
    ("contract-amendment", {"contract": {"number": "HT-9999-999"}},
     "'contract.number' comes from the contract and cannot be set", "--contract DOC_ID"),
]


@pytest.mark.parametrize("template,given,message,hint", SPOOFS, ids=[f"{t}-{m.split()[0]}" for t, _, m, _ in SPOOFS])
def test_a_value_the_archive_derives_cannot_be_set(arch, tmp_path, template, given, message, hint):
    carol = at(arch, "carol", "2026-11-01")
    receivables.add_invoice(carol, "C001", "INV-0042", "128000.00", "2026-09-30")
    user = "carol" if template == "dunning-letter" else "alice"
    session = at(arch, user, "2026-11-01")
    before = len(reading.list_documents(arch.login("alice")))
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(UsageError) as exc:
        generating.generate(session, template, "C001", given, out / "spoof.docx")
    assert exc.value.message == message
    if hint:
        assert hint in cli_hint(exc.value)
    assert exc.value.exit_code == 2
    assert list(out.iterdir()) == []
    assert len(reading.list_documents(arch.login("alice"))) == before
    assert receivables.read_ledger(carol, "C001").letters == []


def test_given_values_and_gaps_in_the_profile_can_be_set(arch, tmp_path):
    """What the catalog declares given, a profile value the profile lacks, and one equal to it."""
    alice = at(arch, "alice", "2026-11-26")
    given = {"business": {"need": "年度品牌投放", "channels": "地铁"}, "budget": "500000", "credit": {"rating": "A"},
             "client": {"address": "北京市朝阳区建国路88号", "legal_rep": "张伟"}}
    generating.generate(alice, "admission-form", "C001", given, tmp_path / "f.docx", file_back=False)
    text = text_of(tmp_path / "f.docx")
    assert "北京市朝阳区建国路88号" in text and "法定代表人 | 张伟" in text and "地铁" in text


def test_contract_amendment_without_a_contract_says_to_pass_one(arch, tmp_path):
    bob = at(arch, "bob", "2026-11-26")
    given = {"changes": [{"clause": "第三条", "original": "a", "new": "b"}], "effective": "2026-12-01"}
    with pytest.raises(UsageError) as exc:
        generating.generate(bob, "contract-amendment", "C001", given, tmp_path / "a.docx")
    assert exc.value.message == ("template contract-amendment needs values for: contract.date, contract.number, "
                                 "contract.title")
    assert cli_hint(exc.value) == "pass --contract DOC_ID ('archive ls --client C001 --type contract' lists the contracts)"
    assert "--set" not in cli_hint(exc.value)
    with pytest.raises(UsageError) as exc:  # other values missing as well: both are named
        generating.generate(bob, "contract-amendment", "C001", {}, tmp_path / "a.docx")
    assert cli_hint(exc.value).startswith("pass --contract DOC_ID (") and cli_hint(exc.value).endswith(
        "give the other values with --set name=value or --data FILE")
    assert not (tmp_path / "a.docx").exists()


# --- the overdue batch: no second letter within min_gap_days, no file replaced ---------------------


def test_a_second_batch_within_the_gap_skips_clients_already_sent_that_level(arch, tmp_path):
    alice = arch.login("alice")
    clients.add_client(alice, "C002", "上海明月广告有限公司")
    carol = at(arch, "carol", "2026-11-01")
    receivables.add_invoice(carol, "C001", "INV-1", "100", "2026-10-25")   # 7 days: level 1
    receivables.add_invoice(carol, "C002", "INV-2", "200", "2026-09-01")   # 61 days: level 3
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    rows = generating.generate_overdue(carol, first)
    assert [(r.client, r.level, r.skipped) for r in rows] == [("C001", 1, None), ("C002", 3, None)]
    assert all(r.letter.doc_id for r in rows)
    rows = generating.generate_overdue(carol, second)  # the same day
    assert [(r.client, r.level, r.letter) for r in rows] == [("C001", 1, None), ("C002", 3, None)]
    assert [(d["path"], d["doc_id"]) for d in (r.to_dict() for r in rows)] == [(None, None), (None, None)]
    assert rows[0].skipped == "a level 1 letter was sent on 2026-11-01, less than 14 days ago (min_gap_days)"
    assert list(second.iterdir()) == []
    assert [len(receivables.read_ledger(carol, c).letters) for c in ("C001", "C002")] == [1, 1]
    letters = [r for r in reading.list_documents(carol) if r.type == "dunning-letter"]
    assert len(letters) == 2
    # thirteen days on, still within the gap: skipped; a higher level than the one sent is not
    carol = at(arch, "carol", "2026-11-14")
    rows = generating.generate_overdue(carol, second, level=2)
    assert [(r.client, bool(r.skipped)) for r in rows] == [("C001", False), ("C002", True)]
    # once the gap has passed, the next letter goes out, one level up
    carol = at(arch, "carol", "2026-11-29")
    rows = generating.generate_overdue(carol, tmp_path)
    assert [(r.client, r.level, r.skipped) for r in rows] == [("C001", 3, None), ("C002", 3, None)]


def test_a_batch_never_replaces_an_existing_file(arch, tmp_path):
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    carol = at(arch, "carol", "2026-11-01")
    receivables.add_invoice(carol, "C001", "INV-1", "100", "2026-10-25")
    rows = generating.generate_overdue(carol, tmp_path, file_back=False)  # a preview: not sent
    letter = tmp_path / "dunning-letter-C001.docx"
    assert rows[0].letter.path == str(letter) and rows[0].letter.doc_id is None
    kept = letter.read_bytes()
    with pytest.raises(ConflictError) as exc:
        generating.generate_overdue(carol, tmp_path)
    assert exc.value.message == f"{letter} already exists; no letter was written"
    assert "-o" in cli_hint(exc.value)
    assert letter.read_bytes() == kept and sorted(p.name for p in tmp_path.iterdir()) == [letter.name]
    assert receivables.read_ledger(carol, "C001").letters == []
    assert not [r for r in reading.list_documents(carol) if r.type == "dunning-letter"]


def test_the_library_refuses_control_characters_in_given_values(arch, tmp_path):
    """The check is the library's, not only the CLI's: any caller (the server too)."""
    alice = at(arch, "alice", "2026-11-26")
    with pytest.raises(UsageError) as exc:
        generating.generate(alice, "admission-form", "C001", {"budget": "500000\x01"}, out=tmp_path / "a.docx")
    assert "control character U+0001" in exc.value.message
    assert not (tmp_path / "a.docx").exists()
    assert arch.reporter.events[-1].outcome == "error"


def test_data_nested_too_deeply_is_bad_input(tmp_path):
    data = tmp_path / "deep.json"
    data.write_text("[" * 100000 + "]" * 100000, encoding="utf-8")
    with pytest.raises(UsageError) as exc:
        parse_given([], data)
    assert "nested too deeply" in exc.value.message or "must hold a JSON object" in exc.value.message


def test_the_default_file_name_never_replaces_an_earlier_letter(arch, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    carol = at(arch, "carol", "2026-11-01")
    receivables.add_invoice(carol, "C001", "INV-1", "100", "2026-10-25")
    first = generating.generate(carol, "dunning-letter", "C001", file_back=False)
    earlier = (tmp_path / "dunning-letter-C001-2026-11-01.docx").read_bytes()
    second = generating.generate(at(arch, "carol", "2026-11-01"), "dunning-letter", "C001", level=3,
                                 file_back=False)
    assert (tmp_path / "dunning-letter-C001-2026-11-01.docx").read_bytes() == earlier
    assert (tmp_path / "dunning-letter-C001-2026-11-01-2.docx").exists()
    assert first != second


# --- what the paperwork says: contract numbers, letters on record, the applicant (issue 15.5) -----


def file_contract(session, tmp_path, tags=()):
    src = tmp_path / f"合同{len(tags)}.txt"
    src.write_text(f"广告发布合同 {tags}", encoding="utf-8")
    return filing.FilingPipeline(session).run(filing.FilingRequest(src, "C001", "contract", title="广告发布合同",
                                                                   date="2026-03-01", tags=tuple(tags))).doc_id


def test_dunning_letter_prints_the_contract_number(arch, tmp_path):
    """A number from the contract's metadata (an inbox sidecar's tag today) for a
    user who may read contracts; otherwise the document id, marked as not a number."""
    alice = at(arch, "alice", "2026-11-01")
    numbered = file_contract(alice, tmp_path, ["HT-2026-088"])
    bare = file_contract(alice, tmp_path, ["广告"])
    carol = at(arch, "carol", "2026-11-01")
    receivables.add_invoice(carol, "C001", "INV-0042", "128000.00", "2026-09-30", contract=numbered)
    receivables.add_invoice(carol, "C001", "INV-0043", "16409.02", "2026-10-20", contract=bare)
    receivables.add_invoice(carol, "C001", "INV-0044", "100", "2026-10-21")
    r = generating.generate(alice, "dunning-letter", "C001", out=tmp_path / "a.docx", file_back=False)
    text = text_of(tmp_path / "a.docx")
    assert "INV-0042 | HT-2026-088 | 2026年9月30日" in text
    assert f"INV-0043 | {bare}（内部文档号） | 2026年10月20日" in text
    assert "INV-0044 |  | 2026年10月21日" in text
    assert numbered in r.derived_from
    generating.generate(carol, "dunning-letter", "C001", out=tmp_path / "c.docx", file_back=False)
    text = text_of(tmp_path / "c.docx")  # carol may not read contracts: no number is known to her
    assert f"INV-0042 | {numbered}（内部文档号） | 2026年9月30日" in text and "HT-2026-088" not in text


def test_contract_amendment_marks_a_document_id_standing_in_for_a_number(arch, tmp_path):
    bob = at(arch, "bob", "2026-11-26")
    given = {"changes": [{"clause": "第三条", "original": "a", "new": "b"}], "effective": "2026-12-01"}
    for tags, shown in ((["HT-2026-088"], "合同编号：HT-2026-088，"), ([], "合同编号：{}（内部文档号），")):
        contract = file_contract(bob, tmp_path, tags)
        generating.generate(bob, "contract-amendment", "C001", given, tmp_path / "a.docx", contract=contract,
                            file_back=False)
        assert shown.format(contract) in text_of(tmp_path / "a.docx")


def opening(path) -> str:
    """The letter's first paragraph after the salutation."""
    lines = text_of(path).splitlines()
    return lines[lines.index("北京星辰传媒有限公司：") + 1]


def test_a_letter_claims_only_the_earlier_letters_on_record(arch, tmp_path):
    carol = at(arch, "carol", "2026-11-01")
    receivables.add_invoice(carol, "C001", "INV-0042", "128000.00", "2026-09-01")  # 61 days: level 3 at once
    generating.generate(carol, "dunning-letter", "C001", out=tmp_path / "preview.docx", file_back=False)
    first = generating.generate(carol, "dunning-letter", "C001", out=tmp_path / "l1.docx")
    assert first.level == 3
    for path in ("preview.docx", "l1.docx"):  # the preview was not sent: it is not on record
        assert opening(tmp_path / path) == "截至 2026年11月1日，贵司尚未支付下列已逾期款项。本函为提起法律程序前的最后通知："
    second = generating.generate(at(arch, "carol", "2026-11-16"), "dunning-letter", "C001", out=tmp_path / "l2.docx")
    assert opening(tmp_path / "l2.docx") == ("我司已于 2026年11月1日 书面催告，贵司至今仍未支付下列款项。"
                                             "本函为提起法律程序前的最后通知：")
    assert first.doc_id in second.derived_from
    generating.generate(at(arch, "carol", "2026-12-01"), "dunning-letter", "C001", out=tmp_path / "l3.docx")
    assert opening(tmp_path / "l3.docx").startswith("我司已于 2026年11月1日、2026年11月16日 先后书面催告，")


def test_letters_about_other_invoices_are_not_claimed(arch, tmp_path):
    """A letter counts when it named one of this letter's invoices; one filed by
    hand (no invoices named) when it is dated after the first of them fell due."""
    carol = at(arch, "carol", "2026-11-01")
    receivables.add_invoice(carol, "C001", "INV-1", "100", "2026-10-01")
    generating.generate(carol, "dunning-letter", "C001", out=tmp_path / "l1.docx")
    receivables.record_payment(carol, "C001", "INV-1")
    receivables.add_invoice(carol, "C001", "INV-2", "200", "2026-11-10")
    hand = tmp_path / "手写催款函.txt"
    hand.write_text("催款函 2026年11月5日", encoding="utf-8")
    filing.file_document(carol, hand, "C001", "dunning-letter", date="2026-11-05")  # before INV-2 fell due
    carol = at(arch, "carol", "2026-12-01")
    generating.generate(carol, "dunning-letter", "C001", out=tmp_path / "l2.docx", file_back=False)
    assert "已于" not in opening(tmp_path / "l2.docx")
    hand.write_text("催款函 2026年11月20日", encoding="utf-8")
    later = filing.file_document(carol, hand, "C001", "dunning-letter", date="2026-11-20")
    r = generating.generate(carol, "dunning-letter", "C001", out=tmp_path / "l3.docx", file_back=False)
    assert "我司已于 2026年11月20日 " in opening(tmp_path / "l3.docx")
    assert later.doc_id in r.derived_from


def test_admission_form_names_the_applicant_from_the_user_record(arch, tmp_path):
    given = {"business": {"need": "年度品牌投放"}, "budget": "500000", "client": {"address": "北京市朝阳区建国路88号"}}
    for user, line in (("alice", "申请部门：档案管理部    申请人：alice"), ("bob", "申请部门：法务部    申请人：bob")):
        generating.generate(at(arch, user, "2026-11-26"), "admission-form", "C001", given, tmp_path / "f.docx",
                            file_back=False)
        text = text_of(tmp_path / "f.docx")
        assert line in text and "业务部" not in text
    accounts.edit_user(arch.login("alice"), "bob", display_name="王芳")
    generating.generate(at(arch, "bob", "2026-11-26"), "admission-form", "C001", given, tmp_path / "f.docx",
                        file_back=False)
    assert "申请部门：法务部    申请人：王芳" in text_of(tmp_path / "f.docx")
    accounts.add_user(arch.login("alice"), "dora", ["archive", "credit"], "dora-pw", display_name="赵多拉")
    generating.generate(at(arch, "dora", "2026-11-26"), "admission-form", "C001", given, tmp_path / "f.docx",
                        file_back=False)
    assert "申请部门：档案管理部、信用管理部    申请人：赵多拉" in text_of(tmp_path / "f.docx")


def test_a_home_with_the_earlier_admission_form_still_gets_the_applicant_as_one_name(arch, tmp_path):
    """Homes made before issue 15 keep their copy of the templates, whose
    catalog declares ``applicant`` as one text: it gets the name, not a record."""
    legacy = Path(__file__).parent / "fixtures" / "issue13-archive" / "templates"
    spec = parse_catalog((legacy / "catalog.toml").read_text(encoding="utf-8"))["admission-form"]
    accounts.edit_user(arch.login("alice"), "bob", display_name="王芳")
    assert generating._applicant(arch.login("bob"), spec) == "王芳"
    earlier = make_template(tmp_path / "admission-form.docx", ["申请部门：业务部    申请人：{{ applicant }}"])
    render(earlier, {"applicant": generating._applicant(arch.login("bob"), spec)}, tmp_path / "f.docx")
    assert "申请人：王芳" in text_of(tmp_path / "f.docx")


@pytest.mark.parametrize("doc,number", [
    ({"number": "HT-2026-088", "tags": ["HT-1999-001"], "versions": [{}]}, "HT-2026-088"),  # the field first
    ({"versions": [{"number": "HT-2025-001"}, {"number": "HT-2026-002"}]}, "HT-2026-002"),  # the newest version's
    ({"tags": ["扫描件", "ht-2026-003"], "versions": [{}]}, "ht-2026-003"),  # a sidecar's tag
    ({"tags": ["扫描件"], "versions": [{}]}, None),
])
def test_contract_number_comes_from_the_metadata(doc, number):
    assert generating.contract_number(doc) == number


def test_the_paperwork_prints_the_number_given_at_filing_and_changed_by_an_edit(arch, tmp_path):
    """``file --number`` sets a contract's number; ``doc edit`` corrects it: the
    dunning letter's 合同编号 column and the amendment print the one on record."""
    bob = at(arch, "bob", "2026-11-01")
    src = tmp_path / "扫描件.txt"
    src.write_text("广告发布合同", encoding="utf-8")
    doc_id = filing.file_document(bob, src, "C001", "contract", title="广告发布合同", date="2026-03-01",
                                  number="HT-2026-088").doc_id
    receivables.add_invoice(at(arch, "carol", "2026-11-01"), "C001", "INV-0042", "128000.00", "2026-09-30",
                            contract=doc_id)
    given = {"changes": [{"clause": "第三条", "original": "a", "new": "b"}], "effective": "2026-12-01"}
    alice = at(arch, "alice", "2026-11-01")
    generating.generate(alice, "dunning-letter", "C001", out=tmp_path / "l1.docx", file_back=False)
    assert "INV-0042 | HT-2026-088 | 2026年9月30日" in text_of(tmp_path / "l1.docx")
    generating.generate(bob, "contract-amendment", "C001", given, tmp_path / "a1.docx", contract=doc_id,
                        file_back=False)
    assert "合同编号：HT-2026-088，" in text_of(tmp_path / "a1.docx")

    documents.edit_document(bob, doc_id, number="HT-2026-089", date="2026-03-02")
    generating.generate(alice, "dunning-letter", "C001", out=tmp_path / "l2.docx", file_back=False)
    text = text_of(tmp_path / "l2.docx")
    assert "INV-0042 | HT-2026-089 | 2026年9月30日" in text and "HT-2026-088" not in text
    generating.generate(bob, "contract-amendment", "C001", given, tmp_path / "a2.docx", contract=doc_id,
                        file_back=False)
    text = text_of(tmp_path / "a2.docx")
    assert "合同编号：HT-2026-089，" in text and "2026年3月2日" in text and "HT-2026-088" not in text
