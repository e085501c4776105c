"""A failed ``archive init`` leaves nothing behind: whatever it made is removed,
what was there before stays as it was (an existing empty home stays, empty).

Each test fails ``init`` at one point (the shipped defaults missing, a bad
passphrase file, a place it cannot write, a broken policy, an error midway)
and compares the whole tree around the home with what it was before.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import archive_manager.home as home_module
from archive_manager.errors import ArchiveError, PolicyError, UsageError
from archive_manager.home import ArchiveHome
from archive_manager.index.classindex import ClassIndex
from archive_manager.settings import load_settings
from archive_manager.vault.fsio import Transaction
from tests.cli.conftest import Cli
from tests.conftest import make_env


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path under ``root`` (``root`` included) with its kind, mode and
    bytes: two snapshots are equal only if nothing was added, removed or changed."""
    tree = {}
    for path in [root, *sorted(root.rglob("*"))]:
        st = path.lstat()
        rel = str(path.relative_to(root))
        if stat.S_ISDIR(st.st_mode):
            tree[rel] = ("dir", stat.S_IMODE(st.st_mode))
        elif stat.S_ISLNK(st.st_mode):
            tree[rel] = ("link", os.readlink(path))
        else:
            tree[rel] = ("file", stat.S_IMODE(st.st_mode), path.read_bytes())
    return tree


def library_home(home: Path, **env: str) -> ArchiveHome:
    return ArchiveHome(load_settings(home, make_env(home, **env)))


def cli_for(tmp_path: Path, home: Path) -> Cli:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return Cli(home, work)


@pytest.fixture(params=["new home", "existing empty home"])
def place(request, tmp_path: Path) -> Path:
    """The home init is pointed at: not there yet (with a missing parent too),
    or an existing empty directory."""
    if request.param == "new home":
        return tmp_path / "parent" / "home"
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o755)  # init makes the home 0700: a failure puts the mode back
    return home


def assert_init_fails(home: ArchiveHome, exc_type=ArchiveError, match: str | None = None):
    with pytest.raises(exc_type, match=match):
        home.init("alice", "alice-pw")


# --- the shipped defaults ------------------------------------------------------------


def test_missing_shipped_defaults(tmp_path, place):
    before = snapshot(tmp_path)
    home = library_home(place, ARCHIVE_SHIPPED_DIR=str(tmp_path / "nowhere"))
    assert_init_fails(home, UsageError, "shipped defaults not found at .*nowhere/policies")
    assert snapshot(tmp_path) == before


def test_missing_shipped_defaults_from_the_command_line(tmp_path, place):
    cli = cli_for(tmp_path, place)
    before = snapshot(tmp_path)
    r = cli.run("init", "--admin", "alice", passphrase="alice-pw", ARCHIVE_SHIPPED_DIR=str(tmp_path / "nowhere"))
    assert r.exit_code == 2, r.output
    assert f"archive: error: shipped defaults not found at {tmp_path / 'nowhere' / 'policies'}" \
        in r.stderr.splitlines()
    assert snapshot(tmp_path) == before


def test_shipped_templates_missing(tmp_path, place):
    """Policies are there, the templates are not: the policies copied first go again."""
    shipped = tmp_path / "shipped"
    (shipped / "policies").mkdir(parents=True)
    for item in (load_settings(tmp_path, {}).shipped_dir / "policies").iterdir():
        (shipped / "policies" / item.name).write_bytes(item.read_bytes())
    before = snapshot(tmp_path)
    assert_init_fails(library_home(place, ARCHIVE_SHIPPED_DIR=str(shipped)))
    assert snapshot(tmp_path) == before


# --- a bad passphrase file -----------------------------------------------------------


@pytest.mark.parametrize("problem", ["missing", "empty", "readable by others"])
def test_bad_passphrase_file(tmp_path, place, problem):
    cli = cli_for(tmp_path, place)
    pw = cli.workdir / "pw.txt"
    if problem != "missing":
        pw.write_text("" if problem == "empty" else "alice-pw\n", encoding="utf-8")
        pw.chmod(0o644 if problem == "readable by others" else 0o600)
    before = snapshot(tmp_path)
    r = cli.run("init", "--admin", "alice", "--passphrase-file", pw, passphrase="")
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines()[-2 if problem == "readable by others" else -1].startswith("archive: error: ")
    assert snapshot(tmp_path) == before


# --- places init cannot write --------------------------------------------------------


@pytest.mark.parametrize("key", ["policies", "templates", "index", "vault", "audit"])
def test_a_place_that_cannot_be_written(tmp_path, key):
    """An existing home whose archive.toml puts one place under a regular file:
    init fails when it gets there (early for policies, after the vault's files
    are staged for the audit log), as root too (no permission bits involved)."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "blocker").write_text("a file, not a directory\n", encoding="utf-8")
    (home / "archive.toml").write_text(f'[paths]\n{key} = "blocker/{key}"\n', encoding="utf-8")
    cli = cli_for(tmp_path, home)
    before = snapshot(tmp_path)
    r = cli.run("init", "--admin", "alice", passphrase="alice-pw")
    assert r.exit_code == 1, r.output
    errors = [line for line in r.stderr.splitlines() if line.startswith("archive: error: ")]
    assert len(errors) == 1 and "not a directory" in errors[0], r.stderr
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("failure", ["audit log blocked", "after the vault is complete"])
def test_places_outside_the_home_that_existed_keep_what_they_held(tmp_path, monkeypatch, failure):
    """Places configured elsewhere that already exist (a vault directory with a
    README, a policies directory with the admin's own table): what init put
    into them goes, what they held stays."""
    home = tmp_path / "home"
    home.mkdir()
    vault = tmp_path / "elsewhere" / "vault"
    vault.mkdir(parents=True)
    (vault / "README.md").write_text("the vault lives here\n", encoding="utf-8")
    policies = tmp_path / "elsewhere" / "policies"
    policies.mkdir()
    shipped = load_settings(tmp_path, {}).shipped_dir / "policies"
    (policies / "grants.toml").write_bytes((shipped / "grants.toml").read_bytes())
    audit = "blocker/audit" if failure == "audit log blocked" else "audit"
    (home / "archive.toml").write_text(
        f'[paths]\nvault = "{vault}"\npolicies = "{policies}"\naudit = "{audit}"\n', encoding="utf-8")
    (home / "blocker").write_text("", encoding="utf-8")
    cli = cli_for(tmp_path, home)
    before = snapshot(tmp_path)
    if failure == "after the vault is complete":
        monkeypatch.setattr(home_module, "_create_indexes", fail_after_vault_json(vault))
    r = cli.run("init", "--admin", "alice", passphrase="alice-pw")
    assert r.exit_code == 1, r.output
    assert snapshot(tmp_path) == before


def fail_after_vault_json(vault: Path):
    def create_indexes(*args):
        assert (vault / "vault.json").is_file()  # the vault was complete when it failed
        raise ArchiveError("midway")
    return create_indexes


def test_what_cannot_be_removed_is_named(tmp_path, monkeypatch):
    """If the cleanup itself fails, the error says what is left."""
    home = library_home(tmp_path / "home")

    def rmtree(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    def create_indexes(*args):
        raise UsageError("midway")

    monkeypatch.setattr(home_module, "_create_indexes", create_indexes)
    monkeypatch.setattr(home_module.shutil, "rmtree", rmtree)
    with pytest.raises(UsageError) as exc:  # the same kind of error (the same exit code)
        home.init("alice", "alice-pw")
    assert exc.value.message == f"midway; and what init made could not all be removed: permission denied: " \
                                f"{tmp_path / 'home'}"
    assert exc.value.hint == "remove what is listed yourself before trying again"


# --- a broken policy, errors midway --------------------------------------------------


def test_a_broken_policy_of_the_admins_own(tmp_path):
    """The home holds the admin's own grants.toml, broken: init copies the
    other tables beside it, then fails on it; the copies go, the admin's file stays."""
    home = tmp_path / "home"
    (home / "policies").mkdir(parents=True)
    (home / "policies" / "grants.toml").write_text("this is = not [valid toml\n", encoding="utf-8")
    before = snapshot(tmp_path)
    assert_init_fails(library_home(home), PolicyError)
    assert snapshot(tmp_path) == before


class Boom(RuntimeError):
    pass


def fail(*args, **kwargs):
    raise Boom("midway")


def fail_on_third_class(monkeypatch):
    real, calls = ClassIndex.create_empty, []

    def create_empty(self):
        calls.append(self)
        if len(calls) == 3:
            raise OSError(28, "No space left on device", str(self.path))
        return real(self)

    monkeypatch.setattr(ClassIndex, "create_empty", create_empty)


def fail_at_commit(monkeypatch):
    monkeypatch.setattr(Transaction, "commit", fail)


def fail_at_the_audit_log(monkeypatch):
    def report(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(home_module.AuditTrail, "report", report)


def fail_after_the_vault_is_complete(monkeypatch):
    monkeypatch.setattr(home_module, "_create_indexes", fail)


def fail_writing_the_config(monkeypatch):
    real = Path.write_text

    def write_text(self, *args, **kwargs):
        if self.name == "archive.toml":
            raise OSError(5, "Input/output error", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", write_text)


MIDWAY = {
    "writing archive.toml": (fail_writing_the_config, OSError),
    "appending to the audit log": (fail_at_the_audit_log, KeyboardInterrupt),
    "committing the vault": (fail_at_commit, Boom),
    "after the vault is complete": (fail_after_the_vault_is_complete, Boom),
    "at the third class index": (fail_on_third_class, OSError),
}


@pytest.mark.parametrize("point", list(MIDWAY))
def test_an_error_midway(tmp_path, place, monkeypatch, point):
    arrange, exc_type = MIDWAY[point]
    before = snapshot(tmp_path)
    home = library_home(place)
    arrange(monkeypatch)
    assert_init_fails(home, exc_type)
    monkeypatch.undo()
    assert snapshot(tmp_path) == before
    # nothing left behind that would stand in the way of trying again
    again = library_home(place)
    again.init("alice", "alice-pw")
    assert again.login("alice", "alice-pw").user == "alice"
    again.close()


def test_a_successful_init_keeps_what_it_made(tmp_path, place):
    """The cleanup runs only on failure."""
    home = library_home(place)
    home.init("alice", "alice-pw")
    home.close()
    for name in ("archive.toml", "vault/vault.json", "policies/grants.toml", "templates/catalog.toml",
                 "audit/events.log"):
        assert (place / name).is_file(), name
    assert stat.S_IMODE(place.stat().st_mode) == 0o700
