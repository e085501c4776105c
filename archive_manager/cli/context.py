"""What every command shares: settings, the archive home, passphrases, output."""

from __future__ import annotations

import json
import os
import shlex
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import click

from archive_manager.cli.hints import cli_hint
from archive_manager.errors import ArchiveError, ConflictError, UsageError
from archive_manager.home import ArchiveHome
from archive_manager.settings import Settings, load_settings
from archive_manager.text import printable, printable_nested


def check_private_file(path: str, mode: int, what: str = "passphrase file") -> None:
    """Refuse a secret's file that group or others may read or change (any of
    the bits 077): a passphrase others can read is theirs too. ``mode`` is the
    file's ``st_mode``, from the descriptor the secret is read through. Pipes
    (``--passphrase-file <(pass show archive)``) are no stored file: they pass."""
    if os.name == "posix" and stat.S_ISREG(mode) and stat.S_IMODE(mode) & 0o077:
        raise UsageError(f"{what} {path} may be read or changed by other users (mode {stat.S_IMODE(mode):04o})",
                         hint=f"make it yours alone: chmod 600 {shlex.quote(str(path))}")


def read_passphrase_file(path: str) -> str:
    """The first line of ``path`` (``--passphrase-file``, ``--new-passphrase-file``
    and the watcher's ``[inbox] passphrase_file``), which must be private."""
    try:
        with open(path, "rb") as fh:
            check_private_file(path, os.fstat(fh.fileno()).st_mode)
            text = fh.read().decode("utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read passphrase file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"passphrase file {path} is not UTF-8 text") from None
    passphrase = text.splitlines()[0] if text else ""
    if not passphrase:
        raise UsageError(f"passphrase file {path} is empty")
    return passphrase


@dataclass
class CliContext:
    home_dir: str | None = None
    user: str | None = None
    passphrase_file: str | None = None
    env: dict = field(default_factory=lambda: dict(os.environ))
    _home: ArchiveHome | None = None

    @property
    def settings(self) -> Settings:
        return self.home.settings

    @property
    def home(self) -> ArchiveHome:
        if self._home is None:
            settings = load_settings(self.home_dir, self.env, self.user)
            self._home = ArchiveHome(settings)
        return self._home

    def passphrase(self, confirm: bool = False, prompt: str = "Passphrase") -> str:
        if self.passphrase_file:
            return read_passphrase_file(self.passphrase_file)
        if self.env.get("ARCHIVE_PASSPHRASE"):
            return self.env["ARCHIVE_PASSPHRASE"]
        return prompt_passphrase(prompt, confirm)

    def session(self, check_policy_files: bool = True):
        user, passphrase = self.credentials()
        return self.home.login(user, passphrase, check_policy_files=check_policy_files)

    def credentials(self) -> tuple[str, str]:
        user = self.settings.user
        if not user:
            raise UsageError("no user given", hint="pass --user NAME or set ARCHIVE_USER")
        try:
            passphrase = self.passphrase(prompt=f"Passphrase for {user}")
        except UsageError as exc:  # no passphrase at all is a failed sign-in too: audited
            self.home.refuse_login(user, exc)
        return user, passphrase

    def warn_cheap_kdf(self) -> None:
        if self.settings.kdf_profile == "test":
            click.echo("archive: warning: ARCHIVE_KDF_PROFILE=test: keyrings created now use cheap "
                       "KDF parameters; never use them for real data", err=True)


def prompt_passphrase(prompt: str, confirm: bool) -> str:
    try:
        value = click.prompt(prompt, hide_input=True, confirmation_prompt=confirm, err=True)
    except click.Abort:
        raise UsageError("no passphrase given", hint="use the prompt, ARCHIVE_PASSPHRASE or --passphrase-file") from None
    if not value:
        raise UsageError("the passphrase is empty")
    return value


def new_passphrase(file: str | None, prompt: str) -> str:
    return read_passphrase_file(file) if file else prompt_passphrase(prompt, confirm=True)


def check_output(path: Path, settings: Settings, force: bool = False, directory: bool = False) -> Path:
    """``-o PATH`` of ``get`` and ``generate``: never inside the archive home or
    the directories the archive keeps its state in (resolved, so neither
    ``..`` nor a link leads there; ``--force`` does not change that), and not
    an existing file unless ``force``. ``directory``: PATH names a folder to
    write into (``generate --overdue``): only its place is checked."""
    target = Path(os.path.abspath(path)).resolve()
    places = [("the archive home", settings.home), ("the archive's vault directory", settings.vault_dir),
              ("the archive's index directory", settings.index_dir),
              ("the archive's audit directory", settings.audit_dir),
              ("the archive's policies directory", settings.policies_dir),
              ("the archive's templates directory", settings.templates_dir)]
    for name, place in places:
        place = Path(os.path.abspath(place)).resolve()
        if target == place or place in target.parents:
            raise UsageError(f"{path} is inside {name} {place}",
                             hint="give -o a path outside the archive home and its directories (the vault, "
                                  "index and audit trail live there)")
    if not directory and not force and (path.is_symlink() or (path.exists() and not path.is_dir())):
        raise ConflictError(f"{path} already exists",
                            hint="pass --force to replace it, or give another name with -o")
    return path


def emit(data: Any, as_json: bool, text: Callable[[Any], None]) -> None:
    """``data`` as JSON (which escapes control characters itself), or through
    ``text`` with every string in it made :func:`printable`: values read from
    the archive reach the terminal as text, never as escape sequences."""
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True))
    else:
        text(printable_nested(data))


def table(rows: list[dict], columns: list[tuple[str, str]]) -> None:
    """A plain text table; width counts CJK characters as two columns."""
    if not rows:
        click.echo("(none)")
        return
    cells = [[printable(str(r.get(k, "") if r.get(k) is not None else "")) for k, _ in columns] for r in rows]
    heads = [h for _, h in columns]
    widths = [max(display_width(x) for x in [h, *(c[i] for c in cells)]) for i, h in enumerate(heads)]

    def line(values: list[str]) -> str:
        return "  ".join(v + " " * (w - display_width(v)) for v, w in zip(values, widths)).rstrip()

    click.echo(line(heads))
    for c in cells:
        click.echo(line(c))


def display_width(text: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def fail(exc: ArchiveError) -> None:
    """Print ``exc`` (message and hint escaped: they may quote a name or a
    path with anything in it) and exit with its code."""
    echo_error(exc)
    sys.exit(exc.exit_code)


def echo_error(exc: ArchiveError, where: str = "") -> None:
    """``archive: error: [where: ]message`` and ``archive: hint: ...`` on stderr, printable."""
    prefix = f"{printable(where)}: " if where else ""
    click.echo(f"archive: error: {prefix}{printable(exc.message)}", err=True)
    hint = cli_hint(exc)
    if hint:
        click.echo(f"archive: hint: {printable(hint)}", err=True)


def note(kind: str, message: str) -> None:
    """``archive: KIND: message`` on stderr (a warning, a note), printable."""
    click.echo(f"archive: {kind}: {printable(message)}", err=True)
