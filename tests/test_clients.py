"""Correcting a client's profile (issue 15.7): ``clients.edit_client`` by an
administrator or the department that owns the field (policies/profile.toml),
checked values, the earlier values kept as history, every edit an audit event,
and an archive made before profile.toml lets only administrators edit."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from archive_manager import accounts, auditing, clients, verify
from archive_manager.errors import AccessDenied, NotFound, UsageError
from archive_manager.settings import SHIPPED_DIR
from archive_manager.cli.hints import cli_hint
from tests.conftest import open_home

EARLIER = Path(__file__).resolve().parent / "fixtures" / "issue13-archive"
CODE = "91350100M000100Y43"  # a valid unified social credit code (GB 32100-2015 check digit)


def vault_files(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted((root / "vault").rglob("*")) if p.is_file()}


def events(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "audit" / "events.log").read_bytes().splitlines()]


@pytest.fixture
def staff(archive):
    """The shared archive (alice admin, bob legal, carol credit; C001 with
    legal_rep 张伟) with mia (marketing) and dave (audit)."""
    alice = archive.login("alice")
    accounts.add_user(alice, "mia", ["marketing"], "mia-pw")
    accounts.add_user(alice, "dave", ["audit"], "dave-pw")
    return archive


def test_an_admin_corrects_the_address_and_sets_a_credit_limit(staff):
    alice = staff.login("alice")
    edit = clients.edit_client(alice, "C001", {"address": "北京市朝阳区建国路88号", "credit_limit": "1,250,000"})
    assert edit.client == "C001" and edit.name == "北京星辰传媒有限公司"
    assert [(c.field, c.old, c.new, c.by) for c in edit.changes] == [
        ("address", None, "北京市朝阳区建国路88号", "alice"), ("credit_limit", None, "1250000.00", "alice")]
    assert edit.profile == {"legal_rep": "张伟", "address": "北京市朝阳区建国路88号", "credit_limit": "1250000.00"}
    shown = clients.show_client(staff.login("bob"), "C001")
    assert shown.profile == edit.profile
    assert shown.history is None and "history" not in shown.to_dict()
    assert verify.verify_vault(staff.login("alice")).ok


def test_each_department_changes_the_fields_it_owns(staff):
    clients.edit_client(staff.login("carol"), "C001", {"credit_limit": "500000", "credit_rating": "AA",
                                                       "payment_terms": "月结60天"})
    clients.edit_client(staff.login("bob"), "C001", {"legal_rep": "李娜", "credit_code": CODE.lower()})
    clients.edit_client(staff.login("mia"), "C001", {"address": "上海市浦东新区", "contact": "王芳"})
    profile = clients.show_client(staff.login("alice"), "C001").profile
    assert profile == {"legal_rep": "李娜", "credit_code": CODE, "address": "上海市浦东新区", "contact": "王芳",
                       "credit_limit": "500000.00", "credit_rating": "AA", "payment_terms": "月结60天"}


@pytest.mark.parametrize("user, values, field, owners", [
    ("carol", {"address": "上海"}, "address", "marketing, business"),
    ("mia", {"credit_limit": "1"}, "credit_limit", "credit"),
    ("bob", {"legal_rep": "李娜", "credit_rating": "A"}, "credit_rating", "credit"),  # one field not theirs: none
])
def test_a_field_someone_else_owns_is_refused_and_nothing_is_written(staff, user, values, field, owners):
    depts = {"carol": "credit", "mia": "marketing", "bob": "legal"}[user]
    before = vault_files(staff.root)
    with pytest.raises(AccessDenied) as exc:
        clients.edit_client(staff.login(user), "C001", values)
    assert exc.value.message == f"user {user!r} ({depts}) may not change the profile field {field!r}"
    assert cli_hint(exc.value) == f"its owners are {owners} (policies/profile.toml), and administrators"
    assert vault_files(staff.root) == before
    denied = [e for e in events(staff.root) if e["action"] == "client-edit"]
    assert [(e["user"], e["outcome"], e["reason"]) for e in denied] == [(user, "denied", "access denied")]


def test_a_user_without_the_profile_key_is_refused_by_the_key(staff):
    before = vault_files(staff.root)
    with pytest.raises(AccessDenied) as exc:  # dave (audit) holds no class key at all
        clients.edit_client(staff.login("dave"), "C001", {"contact": "王芳"})
    assert exc.value.message == "user 'dave' holds no key for access class 'basic'"
    assert vault_files(staff.root) == before


@pytest.mark.parametrize("values, message, hint", [
    ({"credit_limit": "五十万"}, "credit_limit: invalid amount '五十万'", "write it like 128000.00"),
    ({"credit_limit": "-5"}, "credit_limit: amount -5.00 is out of range (0 to 999999999999.99)", None),
    ({"credit_code": "91350100M000100Y44"},
     "credit_code: '91350100M000100Y44' is not a unified social credit code",
     "18 digits and capital letters (no I, O, S, V, Z) whose last one is the check digit of GB 32100-2015"),
    ({"credit_code": "9135"}, "credit_code: '9135' is not a unified social credit code",
     "18 digits and capital letters (no I, O, S, V, Z) whose last one is the check digit of GB 32100-2015"),
    ({"credit_rating": "D"}, "credit_rating: 'D' is not one of AAA, AA, A, B, C", None),
    ({"address": "北京\n朝阳"}, "profile value address contains a control character U+000A",
     "remove control characters; type the value as plain text"),
    ({"city": "北京"}, "unknown profile field 'city'",
     "known fields: legal_rep (法定代表人), credit_code (统一社会信用代码), address (地址), contact (联系人), "
     "phone (联系电话), email (电子邮箱), credit_limit (信用额度（元）), credit_rating (信用等级), "
     "payment_terms (付款条件)"),
    ({"name": "别的公司"}, "unknown profile field 'name'",
     "the client's name is its directory entry, not a profile field"),
    ({}, "nothing to change", "pass --set FIELD=VALUE"),
])
def test_bad_values_and_unknown_fields_are_refused_and_nothing_is_written(staff, values, message, hint):
    before = vault_files(staff.root)
    with pytest.raises(UsageError) as exc:
        clients.edit_client(staff.login("alice"), "C001", {"address": "上海", **values}
                            if values and "address" not in values else values)
    assert exc.value.message == message
    if hint is not None:
        assert cli_hint(exc.value) == hint
    assert vault_files(staff.root) == before


def test_an_unknown_client_is_not_found(staff):
    with pytest.raises(NotFound):
        clients.edit_client(staff.login("alice"), "C999", {"address": "上海"})


def test_earlier_values_are_kept_as_history(staff):
    clients.edit_client(staff.login("mia"), "C001", {"address": "北京市朝阳区"})
    clients.edit_client(staff.login("carol"), "C001", {"credit_limit": "100000"})
    clients.edit_client(staff.login("mia"), "C001", {"address": "北京市海淀区"})
    clients.edit_client(staff.login("alice"), "C001", {"address": ""})  # an empty value removes the field
    shown = clients.show_client(staff.login("carol"), "C001", history=True)
    assert [(h.field, h.old, h.new, h.by) for h in shown.history] == [
        ("address", None, "北京市朝阳区", "mia"),
        ("credit_limit", None, "100000.00", "carol"),
        ("address", "北京市朝阳区", "北京市海淀区", "mia"),
        ("address", "北京市海淀区", None, "alice")]
    assert all(h.time.endswith("Z") for h in shown.history)
    assert "address" not in shown.profile


def test_an_unchanged_value_changes_nothing(staff):
    alice = staff.login("alice")
    before = vault_files(staff.root)
    edit = clients.edit_client(alice, "C001", {"legal_rep": "张伟"})
    assert edit.changes == []
    assert vault_files(staff.root) == before
    assert clients.show_client(alice, "C001", history=True).history == []


def test_every_edit_is_an_audit_event_with_the_values_sealed(staff):
    clients.edit_client(staff.login("carol"), "C001", {"credit_limit": "880000", "credit_rating": "A"})
    edits = [e for e in events(staff.root) if e["action"] == "client-edit"]
    assert len(edits) == 1
    e = edits[0]
    assert (e["user"], e["outcome"], e["objects"]) == (
        "carol", "ok", {"client": "C001", "fields": ["credit_limit", "credit_rating"]})
    assert e["state"] is not None  # the commit: the files it wrote, for verify's rollback check
    raw = (staff.root / "audit" / "events.log").read_text(encoding="utf-8")
    assert "880000" not in raw
    rows = auditing.read_log(staff.login("dave"), auditing.LogFilter(action="client-edit"))
    assert [r.details for r in rows] == [
        {"changes": {"credit_limit": [None, "880000.00"], "credit_rating": [None, "A"]}}]


def test_the_profile_and_its_history_stay_encrypted(staff):
    clients.edit_client(staff.login("mia"), "C001", {"address": "广州市天河区珠江新城"})
    clients.edit_client(staff.login("mia"), "C001", {"address": "深圳市南山区科技园"})
    for path, data in vault_files(staff.root).items():
        for secret in ("广州市天河区珠江新城", "深圳市南山区科技园"):
            assert secret.encode() not in data, path


# --- an archive made before profile.toml ---------------------------------------------------


@pytest.fixture
def earlier(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    shutil.copytree(EARLIER, home)
    return home


def test_an_earlier_archive_lets_only_administrators_edit(earlier):
    home = open_home(earlier)
    for user in ("mia", "carol", "bob"):
        with pytest.raises(AccessDenied) as exc:
            clients.edit_client(home.login(user, f"{user}-pw"), "C001", {"address": "上海"})
        assert exc.value.message == ("this archive's policy names no owners of profile fields: only an "
                                     "administrator changes a client's profile")
        assert cli_hint(exc.value) == ("an administrator copies the shipped policies/profile.toml into the archive's "
                                  "policies/ and signs it with 'archive policy sync'")
    alice = home.login("alice", "alice-pw")
    edit = clients.edit_client(alice, "C001", {"address": "上海市浦东新区", "region": "华东"})  # any field, as text
    assert [(c.field, c.old, c.new) for c in edit.changes] == [
        ("address", "北京市朝阳区建国路88号", "上海市浦东新区"), ("region", None, "华东")]
    assert clients.show_client(home.login("carol", "carol-pw"), "C001").profile == {
        "legal_rep": "张伟", "address": "上海市浦东新区", "region": "华东"}
    assert verify.verify_vault(alice).ok


def test_an_earlier_archive_hands_fields_to_their_owners_once_profile_toml_is_signed(earlier):
    shutil.copy2(SHIPPED_DIR / "policies" / "profile.toml", earlier / "policies" / "profile.toml")
    home = open_home(earlier)
    alice = home.login("alice", "alice-pw", check_policy_files=False)
    result = accounts.sync_policy(alice)
    assert result.policy_changed and any(line == "+++ policies/profile.toml" for line in result.diff)
    clients.edit_client(home.login("mia", "mia-pw"), "C001", {"address": "上海市浦东新区"})
    with pytest.raises(UsageError):  # kinds apply now
        clients.edit_client(home.login("carol", "carol-pw"), "C001", {"credit_limit": "五十万"})
    with pytest.raises(AccessDenied):
        clients.edit_client(home.login("carol", "carol-pw"), "C001", {"address": "北京"})


def test_a_field_given_at_admission_that_the_policy_does_not_declare_is_the_admins(staff):
    """``client add --set`` takes any field (as before profile.toml); such a
    field can still be corrected or removed, by an administrator, as text."""
    alice = staff.login("alice")
    clients.add_client(alice, "C002", "上海明月广告有限公司", {"note": "老客户", "credit_limit": "80,000"})
    assert clients.show_client(alice, "C002").profile == {"note": "老客户", "credit_limit": "80000.00"}
    with pytest.raises(AccessDenied) as exc:
        clients.edit_client(staff.login("mia"), "C002", {"note": "新客户"})
    assert cli_hint(exc.value) == "only administrators change a field policies/profile.toml gives no owner"
    with pytest.raises(UsageError) as exc:  # unknown for C001, which never had it
        clients.edit_client(alice, "C001", {"note": "新客户"})
    assert exc.value.message == "unknown profile field 'note'"
    edit = clients.edit_client(alice, "C002", {"note": ""})
    assert [(c.field, c.old, c.new) for c in edit.changes] == [("note", "老客户", None)]
    with pytest.raises(UsageError):  # gone now: unknown like any other
        clients.edit_client(alice, "C002", {"note": "又来了"})


def test_a_dossier_reads_each_slot_once_and_shows_only_readable_classes(archive, tmp_path, monkeypatch):
    from archive_manager import filing
    from archive_manager.vault import slot as slot_module

    alice = archive.login("alice")
    for name, doc_type in (("c.txt", "contract"), ("m.txt", "minutes"), ("r.txt", "credit-report")):
        p = tmp_path / name
        p.write_text(f"{doc_type} text", encoding="utf-8")
        filing.file_document(alice, p, "C001", doc_type)
    loads = []
    real = slot_module.load_slot
    monkeypatch.setattr(slot_module, "load_slot", lambda *a, **k: (loads.append(a[4]), real(*a, **k))[1])
    import archive_manager.session as session_module
    monkeypatch.setattr(session_module, "load_slot", slot_module.load_slot)
    d = clients.dossier(alice, "C001")
    assert len(loads) == len(set(loads)) == len(alice.classes_for("read"))
    assert [s.access_class for s in d.sections][:2] == ["basic", "business"]  # the policy's order
    assert {s.access_class: len(s.documents) for s in d.sections if s.documents} == \
        {"contract": 1, "communication": 1, "credit": 1}
    assert d.profile == {"legal_rep": "张伟"}
    carol = archive.login("carol")  # credit: basic and credit only
    assert [s.access_class for s in clients.dossier(carol, "C001").sections] == ["basic", "credit"]
    assert [e.action for e in archive.reporter.events][-1] == "client-show"
