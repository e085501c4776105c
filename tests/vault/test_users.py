"""User records and their display name (issue 15.5): signed with the rest of
the record when set, absent (and signed exactly as before) when not, so the
records of earlier archives load and verify unchanged."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from archive_manager import accounts
from archive_manager.errors import IntegrityError, UsageError
from archive_manager.vault.layout import VaultPaths
from archive_manager.vault.users import UserRegistry
from tests.conftest import open_home

EARLIER = Path(__file__).resolve().parents[1] / "fixtures" / "issue13-archive"
# what the code before display names signed (commit 9fb2e91, UserRecord.body)
SIGNED_BEFORE = {"name", "departments", "created", "status", "kem_public", "sign_public"}


def _users_json(archive) -> Path:
    return archive.root / "vault" / "users.json"


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _save(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


@pytest.fixture
def earlier(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    shutil.copytree(EARLIER, home)
    return home


def test_a_record_without_display_name_signs_what_earlier_code_signed(archive):
    users = archive.login("alice").users()
    bob = users.get("bob")
    assert bob.display_name == ""
    assert set(bob.body()) == SIGNED_BEFORE
    assert "display_name" not in _load(_users_json(archive))["users"]["bob"]


def test_a_display_name_is_stored_and_signed(archive):
    alice = archive.login("alice")
    accounts.add_user(alice, "dora", ["marketing"], "dora-pw", display_name="张三")
    rec = archive.login("alice").users().get("dora")
    assert rec.display_name == "张三"
    assert rec.body()["display_name"] == "张三"
    assert _load(_users_json(archive))["users"]["dora"]["display_name"] == "张三"
    assert archive.login("dora").record.display_name == "张三"


def test_records_signed_by_earlier_code_load_verify_and_serialize_unchanged(earlier):
    paths = VaultPaths(earlier / "vault")
    before = paths.users_json.read_bytes()
    registry = UserRegistry.load(paths)
    assert {n: u.display_name for n, u in registry.users.items()} == {
        "alice": "", "bob": "", "carol": "", "mia": ""}
    home = open_home(earlier)
    for user in ("alice", "bob", "carol", "mia"):
        session = home.login(user, f"{user}-pw")
        assert session.record.display_name == ""
    assert registry.serialize() == before  # nothing rewritten, nothing re-signed


def test_an_admin_gives_an_earlier_user_a_display_name(earlier):
    home = open_home(earlier)
    alice = home.login("alice", "alice-pw")
    info = accounts.edit_user(alice, "carol", display_name="王芳")
    assert info.display_name == "王芳" and info.user == "carol"
    assert home.login("carol", "carol-pw").record.display_name == "王芳"
    assert home.login("mia", "mia-pw").users().get("carol").display_name == "王芳"


@pytest.mark.parametrize("value", [None, 7, ["张三"], {"zh": "张三"}])
def test_a_display_name_that_is_not_text_is_a_malformed_registry(archive, value):
    path = _users_json(archive)
    data = _load(path)
    data["users"]["bob"]["display_name"] = value
    _save(path, data)
    with pytest.raises(IntegrityError) as exc:
        archive.login("alice")
    assert exc.value.message == "user registry (users.json) is malformed"


@pytest.mark.parametrize("bad, message", [
    ("张\x01三", "the display name contains a control character U+0001"),
    ("张三\u202e", "the display name contains a format character U+202E"),
    ("张" * 65, "the display name is longer than 64 characters"),
])
def test_a_display_name_is_checked_before_anything_is_written(archive, bad, message):
    alice = archive.login("alice")
    before = _users_json(archive).read_bytes()
    with pytest.raises(UsageError) as exc:
        accounts.add_user(alice, "dora", ["marketing"], "dora-pw", display_name=bad)
    assert exc.value.message == message
    with pytest.raises(UsageError) as exc:
        accounts.edit_user(alice, "bob", display_name=bad)
    assert exc.value.message == message
    assert _users_json(archive).read_bytes() == before


def test_display_names_are_trimmed_and_empty_clears(archive):
    alice = archive.login("alice")
    assert accounts.edit_user(alice, "bob", display_name="  李四 ").display_name == "李四"
    assert _load(_users_json(archive))["users"]["bob"]["display_name"] == "李四"
    assert accounts.edit_user(alice, "bob", display_name="").display_name == ""
    assert "display_name" not in _load(_users_json(archive))["users"]["bob"]
    assert set(archive.login("alice").users().get("bob").body()) == SIGNED_BEFORE


def _edited(value: object, seed: int) -> object:
    if value is None:  # no display name: the attacker adds one
        return ["管理员", "alice", "张伟", " "][seed % 4]
    return [value + "x", value[:-1], "", "王" + value][seed % 4]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(user=st.sampled_from(["bob", "dora", "alice"]), seed=st.integers(min_value=0, max_value=1000),
       drop=st.booleans())
def test_any_edit_of_a_display_name_is_refused(archive, user, seed, drop):
    """Added, changed, emptied or removed by hand: the record no longer carries
    an administrator's signature, or is malformed, and nobody signs in."""
    path = _users_json(archive)
    data = _load(path)
    if "dora" not in data["users"]:
        accounts.add_user(archive.login("alice"), "dora", ["marketing"], "dora-pw", display_name="张三")
        data = _load(path)
    original = path.read_bytes()
    entry = data["users"][user]
    old = entry.get("display_name")
    expected = f"users.json: the record of user {user!r} is not validly signed"
    if drop and old is not None:
        del entry["display_name"]
    else:
        entry["display_name"] = _edited(old, seed)
        if entry["display_name"] == "":  # never written so: a record without one has no key at all
            expected = "user registry (users.json) is malformed"
    _save(path, data)
    try:
        with pytest.raises(IntegrityError) as exc:
            archive.login("carol")
        assert expected in exc.value.message
    finally:
        path.write_bytes(original)
