"""The admin desk's library: the letterhead signed with the policy (and the
take-over of archive.toml's [company]), one-time passphrases, a user's
departments. With the file-writer attacks on both."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from archive_manager import accounts, generating, receivables
from archive_manager.errors import AccessDenied, AuthenticationError, ConflictError, IntegrityError, PolicyError, UsageError
from archive_manager.policy.company import company_text, parse_company
from archive_manager.runtime import Runtime
from tests.conftest import COMPANY, sign_letterhead

PAYEE = 'name = "北京某某广告有限公司"\naddress = "北京"\nphone = "010-1"\nbank = "工商银行"\naccount = "0200-REAL"\n'


def overdue(archive):
    archive.home.runtime = Runtime(now=lambda: datetime(2026, 11, 1, tzinfo=timezone.utc))
    carol = archive.login("carol")
    receivables.add_invoice(carol, "C001", "INV-1", "100.00", "2026-09-30")
    return carol


def letter_text(archive, tmp_path, name="l.docx") -> str:
    from tests.generation.test_render import text_of

    carol = archive.login("carol")
    generating.generate(carol, "dunning-letter", "C001", out=tmp_path / name, file_back=False)
    return text_of(tmp_path / name)


# --- the letterhead as a policy file ---------------------------------------------------


def test_company_text_round_trips_and_refuses_what_could_mislead():
    values = {"account": "0200 1234", "name": '北京"引号"公司\\', "extra_line": "  x  "}
    assert parse_company(company_text(values)) == {"account": "0200 1234", "name": '北京"引号"公司\\',
                                                   "extra_line": "x"}
    for bad in ({"account": "0200\u202e4321"}, {"account": "a\nb"}, {"Name": "x"}, {"name": "x" * 201}):
        with pytest.raises(PolicyError):
            company_text(bad)
    with pytest.raises(PolicyError, match="must be a string"):
        parse_company("name = 1\n")


def test_the_signed_letterhead_is_what_paperwork_prints(archive, tmp_path):
    sign_letterhead(archive, PAYEE)
    overdue(archive)
    assert "0200-REAL" in letter_text(archive, tmp_path)


def test_attack_an_unsigned_letterhead_edit_stops_generation(archive, tmp_path):
    """A file writer sends the payments elsewhere by editing policies/company.toml: nothing is generated."""
    sign_letterhead(archive, PAYEE)
    overdue(archive)
    company = archive.home.settings.policies_dir / "company.toml"
    company.write_text(PAYEE.replace("0200-REAL", "6222-THIEF"), encoding="utf-8")
    with pytest.raises(PolicyError) as exc:
        letter_text(archive, tmp_path)
    assert exc.value.code == "policy-unsigned" and "company.toml" in exc.value.message


def test_attack_archive_toml_company_is_not_read(archive, tmp_path):
    """The old place of the letterhead: a [company] written there changes nothing once one is signed."""
    sign_letterhead(archive, PAYEE)
    overdue(archive)
    cfg = archive.home.settings.config_path
    cfg.write_text(cfg.read_text(encoding="utf-8") + '\n[company]\naccount = "6222-THIEF"\n', encoding="utf-8")
    archive.reopen()
    text = letter_text(archive, tmp_path)
    assert "0200-REAL" in text and "6222-THIEF" not in text


def test_attack_the_signed_copy_edited_is_refused(archive, tmp_path):
    sign_letterhead(archive, PAYEE)
    overdue(archive)
    path = archive.home.vault().paths.policy_json
    data = json.loads(path.read_text(encoding="utf-8"))
    data["files"]["company.toml"] = data["files"]["company.toml"].replace("0200-REAL", "6222-THIEF")
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    (archive.home.settings.policies_dir / "company.toml").write_text(data["files"]["company.toml"], encoding="utf-8")
    with pytest.raises(IntegrityError):
        letter_text(archive, tmp_path)


def test_no_letterhead_names_who_sets_it(archive, tmp_path):
    overdue(archive)
    with pytest.raises(UsageError) as exc:
        letter_text(archive, tmp_path)
    assert exc.value.code == "missing-values" and "company.name" in exc.value.message
    assert "administrator" in exc.value.hint


def test_archive_toml_company_is_taken_over_once_by_the_sync(archive, tmp_path):
    """An archive from before: [company] in archive.toml, no policies/company.toml."""
    (archive.home.settings.policies_dir / "company.toml").unlink()
    alice = archive.login("alice", check_policy_files=False)
    accounts.sync_policy(alice)  # the signed policy now has no company.toml either
    cfg = archive.home.settings.config_path
    cfg.write_text(cfg.read_text(encoding="utf-8") + "\n[company]\n" + PAYEE, encoding="utf-8")
    archive.reopen()
    overdue(archive)
    with pytest.raises(UsageError, match="company.name"):  # not used before an admin signs it
        letter_text(archive, tmp_path)
    alice = archive.login("alice")
    diff = accounts.policy_diff(alice)
    assert "+++ policies/company.toml" in diff and '+account = "0200-REAL"' in diff
    assert not (archive.home.settings.policies_dir / "company.toml").exists()  # looking writes nothing
    r = accounts.sync_policy(alice)
    assert r.migrated and r.diff == diff and any("taken over" in n for n in r.notes)
    assert parse_company((archive.home.settings.policies_dir / "company.toml").read_text(encoding="utf-8"))[
        "account"] == "0200-REAL"
    assert "0200-REAL" in letter_text(archive, tmp_path)
    assert not accounts.sync_policy(archive.login("alice")).migrated  # once


def test_a_failed_sync_leaves_no_letterhead_file_behind(archive):
    (archive.home.settings.policies_dir / "company.toml").unlink()
    accounts.sync_policy(archive.login("alice", check_policy_files=False))
    cfg = archive.home.settings.config_path
    cfg.write_text(cfg.read_text(encoding="utf-8") + "\n[company]\n" + PAYEE, encoding="utf-8")
    archive.reopen()
    types = archive.home.settings.policies_dir / "types.toml"
    types.write_text(types.read_text(encoding="utf-8") + '\n[memo]\nname = "备忘录"\n', encoding="utf-8")
    with pytest.raises(PolicyError):
        accounts.sync_policy(archive.login("alice", check_policy_files=False))
    assert not (archive.home.settings.policies_dir / "company.toml").exists()


def test_set_letterhead_signs_only_what_was_shown(archive):
    alice = archive.login("alice")
    values = parse_company(COMPANY)
    diff = accounts.letterhead_diff(alice, values)
    with pytest.raises(ConflictError):
        accounts.set_letterhead(alice, {**values, "account": "6222"}, accounts.diff_digest(diff))
    assert alice.policy.company == {}
    r = accounts.set_letterhead(alice, values, accounts.diff_digest(diff))
    assert r.policy_changed and alice.policy.company == values
    assert accounts.letterhead(alice).values == values and not accounts.letterhead(alice).edited
    with pytest.raises(AccessDenied):
        accounts.letterhead(archive.login("bob"))


# --- one-time passphrases ---------------------------------------------------------------


@pytest.fixture
def newcomer(archive):
    accounts.add_user(archive.login("alice"), "erin", ["business"], "given-once-1", one_time=True)
    return archive


def test_a_one_time_passphrase_must_be_replaced_first(newcomer):
    with pytest.raises(AccessDenied) as exc:
        newcomer.login("erin", "given-once-1")
    assert exc.value.code == "set-passphrase" and "set your own passphrase" in exc.value.message
    assert newcomer.reporter.events[-1].action == "login" and newcomer.reporter.events[-1].user == "erin"
    assert [u.passphrase_to_set for u in accounts.list_users(newcomer.login("alice")) if u.user == "erin"] == [True]
    erin = newcomer.login("erin", "given-once-1", passphrase_change=True)
    assert erin.passphrase_to_set
    with pytest.raises(UsageError, match="one-time passphrase"):
        accounts.change_passphrase(erin, "given-once-1")
    accounts.change_passphrase(erin, "erin-own-pw")
    assert not newcomer.login("erin", "erin-own-pw").passphrase_to_set
    assert [u.passphrase_to_set for u in accounts.list_users(newcomer.login("alice")) if u.user == "erin"] == [False]


def _users_json(archive):
    path = archive.home.vault().paths.users_json
    return path, json.loads(path.read_text(encoding="utf-8"))


def test_attack_removing_the_mark_is_refused(newcomer):
    path, data = _users_json(newcomer)
    del data["users"]["erin"]["one_time"]
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(IntegrityError, match="erin"):
        newcomer.login("erin", "given-once-1")


def test_attack_adding_the_mark_is_refused(newcomer):
    path, data = _users_json(newcomer)
    data["users"]["bob"]["one_time"] = "0" * 64
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(IntegrityError, match="bob"):
        newcomer.login("bob")


def test_attack_moving_the_mark_to_another_keyring_does_not_spend_it(newcomer):
    """Another user's keyring under erin's name does not unlock erin's keys."""
    path, data = _users_json(newcomer)
    data["users"]["erin"]["keyring"] = data["users"]["bob"]["keyring"]
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises((IntegrityError, AccessDenied, AuthenticationError)):
        newcomer.login("erin", "bob-pw")


def test_an_admin_edit_drops_a_spent_mark(newcomer):
    erin = newcomer.login("erin", "given-once-1", passphrase_change=True)
    accounts.change_passphrase(erin, "erin-own-pw")
    accounts.edit_user(newcomer.login("alice"), "erin", display_name="赵敏")
    assert newcomer.home.vault().users().users["erin"].one_time == ""


# --- departments --------------------------------------------------------------------------


def test_departments_change_seals_and_rotates(archive):
    alice = archive.login("alice")
    r = accounts.set_departments(alice, "bob", ["legal", "credit"])
    assert r.changed and "credit:bob" in r.sealed and r.previous == ["legal"]
    assert "credit" in archive.login("bob").classes_for("read")
    r = accounts.set_departments(alice, "bob", ["legal"])
    assert "credit:bob" in r.revoked and "credit" in r.rotated
    assert "credit" not in archive.login("bob").classes_for("read")
    assert not accounts.set_departments(alice, "bob", ["legal"]).changed
    with pytest.raises(UsageError, match="not changed here"):
        accounts.set_departments(alice, "bob", ["legal", "archive"])
    with pytest.raises(UsageError, match="unknown department"):
        accounts.set_departments(alice, "bob", ["nowhere"])
    with pytest.raises(AccessDenied):
        accounts.set_departments(archive.login("carol"), "bob", ["credit"])
    assert [e.outcome for e in archive.reporter.events if e.action == "user-departments"] == [
        "ok", "ok", "ok", "error", "error", "denied"]
