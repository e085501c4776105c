"""CLI test helpers: a template archive built once through the CLI, copied per test.

Template home (built with ``archive`` commands, KDF profile ``test``):
alice (archive, admin), bob (legal), carol (credit); passphrases ``<name>-pw``;
client C001 北京星辰传媒有限公司 with profile legal_rep=张伟. No documents.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from archive_manager.cli import main
from tests.conftest import make_env

KDF_WARNING = ("archive: warning: ARCHIVE_KDF_PROFILE=test: keyrings created now use cheap "
               "KDF parameters; never use them for real data")


def check_clean(result: Result) -> Result:
    """No traceback, no unexpected exception: only SystemExit may escape."""
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


class Cli:
    """Runs ``archive`` against one home with CliRunner (stderr kept apart)."""

    def __init__(self, home: Path, workdir: Path) -> None:
        self.home = home
        self.workdir = workdir
        self.runner = CliRunner()

    def env(self, user: str | None = None, passphrase: str | None = None, **extra) -> dict:
        """ARCHIVE_PASSPHRASE defaults to ``<user>-pw``; pass ``passphrase=""`` to leave it unset.
        Variables set to None are removed, so nothing leaks in from the test process."""
        if passphrase is None:
            passphrase = f"{user}-pw" if user else ""
        env = {"ARCHIVE_USER": user, "ARCHIVE_PASSPHRASE": passphrase or None}
        env.update(make_env(self.home, **extra))
        return env

    def run(self, *args, user: str | None = None, passphrase: str | None = None,
            input: str | bytes | None = None, env: dict | None = None, **extra) -> Result:
        env = env if env is not None else self.env(user, passphrase, **extra)
        umask = os.umask(0o022)
        os.umask(umask)
        try:
            result = self.runner.invoke(main, [str(a) for a in args], env=env, input=input)
        finally:
            os.umask(umask)  # the CLI sets 077 for itself; CliRunner runs it in this process
        return check_clean(result)

    def write(self, name: str, data: bytes | str) -> Path:
        path = self.workdir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            data = data.encode("utf-8")
        path.write_bytes(data)
        return path

    def passfile(self, name: str, passphrase: str) -> Path:
        """A passphrase file as it should be: mode 0600 (others' files are refused)."""
        path = self.write(f"pw/{name}.txt", passphrase + "\n")
        path.chmod(0o600)
        return path

    def file(self, *paths, client="C001", doc_type="contract", user="alice", extra=()) -> list[dict]:
        """File documents and return the parsed --json rows (asserts success)."""
        r = self.run("file", *paths, "--client", client, "--type", doc_type, "--json", *extra, user=user)
        assert r.exit_code == 0, r.output
        return json.loads(r.stdout)


def build_template(root: Path) -> Path:
    home = root / "home"
    home.mkdir()
    cli = Cli(home, root)
    r = cli.run("init", "--admin", "alice", passphrase="alice-pw")
    assert r.exit_code == 0, r.output
    for name, dept in (("bob", "legal"), ("carol", "credit")):
        pw = cli.passfile(name, f"{name}-pw")
        r = cli.run("user", "add", name, "--dept", dept, "--new-passphrase-file", pw, user="alice")
        assert r.exit_code == 0, r.output
    r = cli.run("client", "add", "C001", "--name", "北京星辰传媒有限公司", "--set", "legal_rep=张伟",
                user="alice")
    assert r.exit_code == 0, r.output
    return home


@pytest.fixture(autouse=True)
def _keep_umask():
    """The CLI sets umask 077 in the process it runs in; CliRunner runs it in
    this one: what a test does to the umask ends with the test."""
    umask = os.umask(0o022)
    os.umask(umask)
    yield
    os.umask(umask)


@pytest.fixture(scope="session")
def template_home(tmp_path_factory) -> Path:
    return build_template(tmp_path_factory.mktemp("template"))


def private_copy(src: Path, tmp_path: Path) -> Cli:
    """A Cli over a copy of the archive home ``src``, with its own work directory."""
    home = tmp_path / "home"
    shutil.copytree(src, home)
    work = tmp_path / "work"
    work.mkdir()
    return Cli(home, work)


@pytest.fixture
def cli(template_home: Path, tmp_path: Path) -> Cli:
    """A private copy of the template archive."""
    return private_copy(template_home, tmp_path)


@pytest.fixture
def fresh(tmp_path: Path) -> Cli:
    """An empty, not yet initialised home."""
    home = tmp_path / "fresh-home"
    home.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    return Cli(home, work)
