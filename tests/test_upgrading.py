"""``archive upgrade`` on an archive made before the trust anchor
(tests/fixtures/legacy-archive, made by the earlier version's own code)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from archive_manager import reading, searching, verify
from archive_manager.errors import IntegrityError, UpgradeNeeded, UsageError
from archive_manager.upgrading import RootToConfirm, upgrade
from archive_manager.vault.trust import TrustFile, show_fingerprint
from archive_manager.cli.hints import cli_hint
from tests.cli.conftest import Cli
from tests.conftest import open_home

LEGACY = Path(__file__).parent / "fixtures" / "legacy-archive"


@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    shutil.copytree(LEGACY, home)
    return home


def yes(seen: list):
    def confirm(root: RootToConfirm) -> bool:
        seen.append(root)
        return True
    return confirm


def test_an_old_archive_refuses_until_an_admin_upgrades_it(legacy):
    home = open_home(legacy)
    with pytest.raises(UpgradeNeeded) as exc:
        home.login("bob", "bob-pw")
    assert "archive upgrade" in cli_hint(exc.value)
    with pytest.raises(UpgradeNeeded) as exc:  # only an admin creates the root
        upgrade(home, "bob", "bob-pw", yes([]))
    assert "an administrator upgrades it first" in exc.value.message
    assert not (legacy / "vault" / "trust.json").exists()


def test_the_admin_upgrades_then_each_user_confirms(legacy):
    home = open_home(legacy)
    seen: list[RootToConfirm] = []
    result = upgrade(home, "alice", "alice-pw", yes(seen))
    assert result.created_root and seen[0].new and seen[0].admins == ("alice",)
    root = TrustFile.load(legacy / "vault" / "trust.json").root
    assert result.fingerprint == seen[0].fingerprint == show_fingerprint(root.fingerprint)
    # alice's keyring now knows the root; bob's does not yet
    alice = home.login("alice", "alice-pw")
    assert alice.keyring.root == root.fingerprint
    with pytest.raises(UpgradeNeeded) as exc:
        home.login("bob", "bob-pw")
    assert result.fingerprint in cli_hint(exc.value)
    seen.clear()
    bob_result = upgrade(home, "bob", "bob-pw", yes(seen))
    assert not bob_result.created_root and not seen[0].new and seen[0].fingerprint == result.fingerprint
    bob = home.login("bob", "bob-pw")
    docs = reading.list_documents(bob)
    assert [d.title for d in docs] == ["星辰年度合同"]
    assert (legacy / "index" / "contract").is_dir() and not (legacy / "index" / "contract.db").exists()
    hits = searching.search(bob, "广告发布合同")  # the Whoosh index of the earlier version: rebuilt on first use
    assert hits.total >= 1
    assert (legacy / "index" / "contract.db").is_file() and not (legacy / "index" / "contract").exists()
    assert upgrade(home, "bob", "bob-pw", yes([])).already
    assert verify.verify_vault(home.login("alice", "alice-pw")).ok
    # the upgrades are on the record, signed
    events = [json.loads(line) for line in (legacy / "audit" / "events.log").read_bytes().splitlines()]
    ups = [(e["user"], e["objects"].get("root")) for e in events if e["action"] == "upgrade"]
    assert ups == [("alice", root.fingerprint.hex()), ("bob", root.fingerprint.hex())]


def test_not_confirmed_changes_nothing(legacy):
    before = {p.name: p.read_bytes() for p in (legacy / "vault").iterdir() if p.is_file()}
    with pytest.raises(UsageError) as exc:
        upgrade(open_home(legacy), "alice", "alice-pw", lambda root: False)
    assert "not confirmed" in exc.value.message
    assert {p.name: p.read_bytes() for p in (legacy / "vault").iterdir() if p.is_file()} == before


def test_an_upgrade_never_signs_a_file_changed_outside_the_archive(legacy):
    """A user added to users.json by hand before the upgrade: the admin's
    upgrade would sign it; the log's recorded hashes say it was not written by
    the archive, so the upgrade refuses."""
    path = legacy / "vault" / "users.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["users"]["mallory"] = dict(data["users"]["bob"], departments=["legal", "credit"])
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(IntegrityError) as exc:
        upgrade(open_home(legacy), "alice", "alice-pw", yes([]))
    assert exc.value.message.startswith("vault/users.json ")
    assert not (legacy / "vault" / "trust.json").exists()


def test_a_user_confirming_the_wrong_fingerprint_is_refused_by_the_cli(legacy, tmp_path):
    cli = Cli(legacy, tmp_path)
    r = cli.run("upgrade", "--fingerprint", "00" * 32, user="alice")
    assert r.exit_code == 2, r.output
    assert "archive: error: the upgrade was not confirmed; nothing was changed" in r.stderr
    shown = [line for line in r.stderr.splitlines() if line.startswith("root fingerprint: ")][0]
    fingerprint = shown.removeprefix("root fingerprint: ")
    r = cli.run("upgrade", "--fingerprint", fingerprint, user="alice")
    assert r.exit_code == 0, r.output
    assert f"root fingerprint: {fingerprint}" in r.stdout
    r = cli.run("ls", user="bob")
    assert r.exit_code == 7, r.output
    assert "archive: hint: run 'archive upgrade' and confirm the fingerprint" in r.stderr
    r = cli.run("upgrade", "--fingerprint", fingerprint.replace(" ", ""), user="bob")
    assert r.exit_code == 0, r.output
    r = cli.run("ls", user="bob")
    assert r.exit_code == 0 and "星辰年度合同" in r.stdout, r.output
