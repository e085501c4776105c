"""File-writer attacks on what issue 19 added to guard keys and the record:
the signed letterhead (and archive.toml's [company] take-over), the one-time
passphrase mark, and the quarantine (.failed) the admin pages act on. The
attacker can write every file of the archive home but holds no passphrase."""

from __future__ import annotations

import json
import os

import pytest

from archive_manager import accounts, quarantine
from archive_manager.errors import ArchiveError, ConflictError, IntegrityError
from archive_manager.vault.users import keyring_digest
from tests.test_admin_accounts import PAYEE, letter_text, overdue

THIEF = "6222-THIEF"


def _without_letterhead(archive):
    (archive.home.settings.policies_dir / "company.toml").unlink(missing_ok=True)
    accounts.sync_policy(archive.login("alice", check_policy_files=False))


def _plant_company(archive, account=THIEF):
    cfg = archive.home.settings.config_path
    cfg.write_text(cfg.read_text(encoding="utf-8") + "\n[company]\n" + PAYEE.replace("0200-REAL", account),
                   encoding="utf-8")
    archive.reopen()


# --- (1) the letterhead -----------------------------------------------------------------


def test_attack_planted_company_is_not_signed_when_admin_clears_the_letterhead(archive):
    """The admin desk's letterhead form sent empty (nothing to print yet): what
    was shown is an empty company.toml; a [company] a writer planted in
    archive.toml must not be signed instead."""
    _without_letterhead(archive)
    _plant_company(archive)
    alice = archive.login("alice")
    diff = accounts.letterhead_diff(alice, {})
    try:
        accounts.set_letterhead(alice, {}, accounts.diff_digest(diff))
    except ArchiveError:
        pass
    assert THIEF not in archive.login("alice").policy.company.values()


def test_attack_planted_company_is_not_signed_by_a_letterhead_edit(archive):
    """The admin signs a letterhead of their own: the planted account is not mixed in."""
    _without_letterhead(archive)
    _plant_company(archive)
    alice = archive.login("alice")
    values = {"name": "北京某某广告有限公司", "account": "0200-REAL"}
    diff = accounts.letterhead_diff(alice, values)
    accounts.set_letterhead(alice, values, accounts.diff_digest(diff))
    assert archive.login("alice").policy.company == values


def test_attack_planted_company_with_a_signed_letterhead_never_reaches_a_letter(archive, tmp_path):
    """A letterhead is signed; the writer plants [company] and a company.toml
    emptied of values (the take-over's trigger): the admin's next sync, with the
    diff shown, must not silently swap in the planted account."""
    from tests.conftest import sign_letterhead

    sign_letterhead(archive, PAYEE)
    overdue(archive)
    _plant_company(archive)
    (archive.home.settings.policies_dir / "company.toml").write_text("# emptied\n", encoding="utf-8")
    alice = archive.login("alice", check_policy_files=False)
    diff = accounts.policy_diff(alice)
    assert not any(THIEF in line for line in diff)
    try:
        accounts.sync_policy(alice, accounts.diff_digest(diff))
    except ArchiveError:
        pass
    try:
        text = letter_text(archive, tmp_path)
    except ArchiveError:
        return
    assert THIEF not in text


def test_attack_company_toml_symlink_is_not_what_is_signed(archive, tmp_path):
    """policies/company.toml a link to a file the writer keeps changing: the
    signed copy is what prints, and a later rewrite is unsigned."""
    outside = tmp_path / "elsewhere.toml"
    outside.write_text(PAYEE, encoding="utf-8")
    path = archive.home.settings.policies_dir / "company.toml"
    path.unlink(missing_ok=True)
    path.symlink_to(outside)
    accounts.sync_policy(archive.login("alice", check_policy_files=False))
    overdue(archive)
    outside.write_text(PAYEE.replace("0200-REAL", THIEF), encoding="utf-8")
    try:
        text = letter_text(archive, tmp_path)
    except ArchiveError:
        return
    assert THIEF not in text


# --- (2) the one-time passphrase mark -----------------------------------------------------


@pytest.fixture
def newcomer(archive):
    accounts.add_user(archive.login("alice"), "erin", ["business"], "given-once-1", one_time=True)
    return archive


def _users(archive):
    path = archive.home.vault().paths.users_json
    return path, json.loads(path.read_text(encoding="utf-8"))


def test_attack_old_keyring_put_back_does_not_revive_the_one_time_passphrase(newcomer):
    path, before = _users(newcomer)
    old = before["users"]["erin"]["keyring"]
    erin = newcomer.login("erin", "given-once-1", passphrase_change=True)
    accounts.change_passphrase(erin, "erin-own-pw")
    path, now = _users(newcomer)
    now["users"]["erin"]["keyring"] = old  # the keyring is not signed: only the mark is
    path.write_text(json.dumps(now), encoding="utf-8")
    with pytest.raises(IntegrityError):
        newcomer.home.sign_in("erin", "given-once-1", passphrase_change=True)
    s = newcomer.login("erin", "given-once-1", passphrase_change=True)  # the CLI's login reads no log
    with pytest.raises(IntegrityError):
        accounts.change_passphrase(s, "taken-over-pw")


def test_attack_whole_old_users_json_put_back_is_refused_at_sign_in(newcomer):
    path = newcomer.home.vault().paths.users_json
    old = path.read_bytes()
    erin = newcomer.login("erin", "given-once-1", passphrase_change=True)
    accounts.change_passphrase(erin, "erin-own-pw")
    path.write_bytes(old)
    with pytest.raises(IntegrityError):
        newcomer.home.sign_in("erin", "given-once-1", passphrase_change=True)


def test_attack_mark_copied_with_its_keyring_to_another_user_is_refused(newcomer):
    """bob's record given erin's mark and keyring: the mark is signed with erin's record."""
    path, data = _users(newcomer)
    data["users"]["bob"]["one_time"] = data["users"]["erin"]["one_time"]
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(IntegrityError):
        newcomer.login("bob")


def test_attack_unverified_mark_does_not_change_how_an_admin_signs_in(newcomer):
    """home.passphrase_to_set reads the file unverified: a writer can make the
    page ask for the change flow, but the sign-in itself must still refuse."""
    path, data = _users(newcomer)
    data["users"]["alice"]["one_time"] = "0" * 64
    path.write_text(json.dumps(data), encoding="utf-8")
    assert not newcomer.home.passphrase_to_set("alice")  # digest does not match alice's keyring
    data["users"]["alice"]["one_time"] = keyring_digest(data["users"]["alice"]["keyring"])
    path.write_text(json.dumps(data), encoding="utf-8")
    assert newcomer.home.passphrase_to_set("alice")  # the page would offer the change flow ...
    with pytest.raises(IntegrityError):  # ... but the signed record refuses the mark
        newcomer.login("alice", passphrase_change=True)


# --- (3) the quarantine ---------------------------------------------------------------------


@pytest.fixture
def inbox(tmp_path):
    root = tmp_path / "inbox"
    (root / ".failed" / "C001" / "contract").mkdir(parents=True)
    return root


def _ids(alice, inbox):
    return {q.path: q.id for q in quarantine.list_quarantine(alice, inbox)}


def test_attack_failed_folder_a_link_outside_is_refused(archive, inbox, tmp_path):
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep.pdf").write_bytes(b"%PDF keep")
    (inbox / ".failed").rename(tmp_path / "gone")
    (inbox / ".failed").symlink_to(outside)
    alice = archive.login("alice")
    try:
        ids = _ids(alice, inbox)
    except ConflictError:
        ids = {}
    for item_id in ids.values():
        with pytest.raises(ArchiveError):
            quarantine.delete_quarantined(alice, item_id, inbox)
    assert (outside / "keep.pdf").exists()


def test_attack_linked_subfolder_inside_failed_is_not_followed(archive, inbox, tmp_path):
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep.pdf").write_bytes(b"%PDF keep")
    (inbox / ".failed" / "C002").symlink_to(outside)
    alice = archive.login("alice")
    ids = _ids(alice, inbox)
    assert "C002/keep.pdf" not in ids
    for item_id in ids.values():
        try:
            quarantine.delete_quarantined(alice, item_id, inbox)
        except ArchiveError:
            pass
    assert (outside / "keep.pdf").exists()


def test_attack_reason_note_a_link_deletes_only_the_link(archive, inbox, tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("secret", encoding="utf-8")
    bad = inbox / ".failed" / "C001" / "contract"
    (bad / "x.pdf").write_bytes(b"%PDF")
    (bad / "x.pdf.reason.txt").symlink_to(outside)
    (bad / "x.pdf.meta.json").symlink_to(outside)
    alice = archive.login("alice")
    ids = _ids(alice, inbox)
    q = {x.path: x for x in quarantine.list_quarantine(alice, inbox)}["C001/contract/x.pdf"]
    assert "secret" not in (q.why or "") and "secret" not in (q.fix or "")
    quarantine.delete_quarantined(alice, ids["C001/contract/x.pdf"], inbox)
    assert outside.read_text(encoding="utf-8") == "secret"


def test_attack_retry_into_a_linked_inbox_folder_is_refused(archive, inbox, tmp_path):
    """Retry moves the file to inbox/C001/contract: if that is a link to a
    folder outside, the file must not land there."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (inbox / ".failed" / "C001" / "contract" / "x.pdf").write_bytes(b"%PDF")
    (inbox / "C001").symlink_to(outside)
    alice = archive.login("alice")
    item_id = _ids(alice, inbox)["C001/contract/x.pdf"]
    with pytest.raises(ArchiveError):
        quarantine.retry_quarantined(alice, item_id, inbox)
    assert not any(outside.rglob("*"))
    assert (inbox / ".failed" / "C001" / "contract" / "x.pdf").exists()


def test_attack_ids_naming_paths_are_refused(archive, inbox):
    alice = archive.login("alice")
    for bad in ("../../etc/passwd", "/etc/passwd", "C001/../..", "..", ""):
        with pytest.raises(ArchiveError):
            quarantine.delete_quarantined(alice, bad, inbox)


def test_fake_watcher_status_changes_only_what_is_shown(archive):
    """watcher.json is a plain file: a forged 'running' names no inbox the pages act on."""
    from archive_manager.ingest.status import read_status, status_path

    home = archive.home.settings.home
    status_path(home).write_text(json.dumps({"pid": os.getpid(), "host": os.uname().nodename, "user": "alice",
                                             "inbox": "/etc", "updated": 9e12}), encoding="utf-8")
    read_status(status_path(home))  # whatever it claims, it is only shown
    alice = archive.login("alice")
    assert all(not q.path.startswith("/etc") for q in quarantine.list_quarantine(alice))
