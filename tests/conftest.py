"""Shared fixtures: a fresh archive home in a temp dir with cheap KDF parameters.

Users created by ``archive_factory``: alice (archive, admin), bob (legal),
carol (credit); passphrases are ``<name>-pw``. Client C001 exists.
``letterhead``: the same with the company's letterhead signed into the policy
(policies/company.toml; paperwork needs it; ``sign_letterhead`` signs another); ``chain``: that, and a member of each other department of the
admission chain: erin (business), mike (marketing), mgmt (management).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from archive_manager import accounts, clients
from archive_manager.home import ArchiveHome
from archive_manager.reporting import MemoryReporter
from archive_manager.settings import SHIPPED_DIR, load_settings

REPO = SHIPPED_DIR


def make_env(home: Path, **extra: str) -> dict:
    env = {"ARCHIVE_HOME": str(home), "ARCHIVE_KDF_PROFILE": "test"}
    env.update(extra)
    return env


@dataclass
class Archive:
    root: Path
    home: ArchiveHome
    reporter: MemoryReporter

    def login(self, user: str, passphrase: str | None = None, **kw):
        return self.home.login(user, passphrase or f"{user}-pw", **kw)

    def reopen(self) -> ArchiveHome:
        self.home = open_home(self.root, self.reporter)
        return self.home


def open_home(root: Path, reporter: MemoryReporter | None = None) -> ArchiveHome:
    """A home whose events go to its real audit trail and are also kept in
    ``reporter`` (a new one if not given) for assertions."""
    home = ArchiveHome(load_settings(root, make_env(root)))
    if reporter is None:
        reporter = MemoryReporter()
    reporter.inner = home.reporter
    home.reporter = reporter
    return home


@pytest.fixture
def empty_archive(tmp_path: Path) -> Archive:
    root = tmp_path / "home"
    root.mkdir()
    home = open_home(root)
    home.init("alice", "alice-pw")
    return Archive(root, home, home.reporter)


@pytest.fixture
def archive(empty_archive: Archive) -> Archive:
    alice = empty_archive.login("alice")
    accounts.add_user(alice, "bob", ["legal"], "bob-pw")
    accounts.add_user(alice, "carol", ["credit"], "carol-pw")
    clients.add_client(alice, "C001", "北京星辰传媒有限公司", {"legal_rep": "张伟"})
    return empty_archive


COMPANY = 'name = "北京某某广告有限公司"\naddress = "北京市朝阳区建国路1号"\nphone = "010-1"\n'


def sign_letterhead(archive: Archive, text: str = COMPANY) -> None:
    """Write ``text`` as policies/company.toml and have alice sign it (the
    letterhead is signed with the policy: an unsigned one is never used)."""
    (archive.home.settings.policies_dir / "company.toml").write_text(text, encoding="utf-8")
    accounts.sync_policy(archive.login("alice", check_policy_files=False))


@pytest.fixture
def letterhead(archive: Archive) -> Archive:
    sign_letterhead(archive)
    return archive


@pytest.fixture
def chain(letterhead: Archive) -> Archive:
    alice = letterhead.login("alice")
    accounts.add_user(alice, "erin", ["business"], "erin-pw")
    accounts.add_user(alice, "mike", ["marketing"], "mike-pw")
    accounts.add_user(alice, "mgmt", ["management"], "mgmt-pw")
    return letterhead
