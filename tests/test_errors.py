"""The library's errors are interface-neutral: no message or hint it raises
names a command-line flag, an environment variable or an ``archive`` command
(issue 16: "no ``--user`` in a library message"). Where the CLI has its own
remedy, the error carries a ``code`` and ``data``, and the CLI maps them to its
hint (``archive_manager/cli/hints.py``); every code it maps is raised somewhere,
and every CLI hint formats with the data its raise sites give."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest

from archive_manager.cli import hints
from archive_manager.errors import AccessDenied, ArchiveError, IntegrityError, NotFound, UsageError

PACKAGE = Path(__file__).resolve().parent.parent / "archive_manager"
INTERFACES = ("cli", "server")
COMMANDS = ("init", "upgrade", "verify", "audit", "policy", "user", "client", "ls", "search", "file",
            "export", "ledger", "templates", "template", "generate", "reindex", "serve", "inbox", "show",
            "whoami", "passwd", "doc")
CLI_WORDS = re.compile(r"(?<![\w-])--[a-z]|\bARCHIVE_[A-Z]|'archive |\barchive (?:%s)\b" % "|".join(COMMANDS))


def library_modules() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py"))
            if p.relative_to(PACKAGE).parts[0] not in INTERFACES and "shipped" not in p.parts]


def _error_name(node: ast.expr) -> str | None:
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
    if name and (name.endswith(("Error", "Denied", "NotFound", "Needed")) or name == "Throttled"):
        return name
    return None


def _texts(node: ast.expr, constants: dict[str, str]) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Name) and node.id in constants:
        return [constants[node.id]]
    return [t for child in ast.iter_child_nodes(node) if isinstance(child, ast.expr)
            for t in _texts(child, constants)]


def _constants(tree: ast.Module) -> dict[str, str]:
    """The module's string constants (``REINDEX_HINT = "..."``), by name."""
    return {t.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
            for t in node.targets if isinstance(t, ast.Name)}


def raised_texts(path: Path) -> list[tuple[int, str]]:
    """Every string a call to an error class in ``path`` puts in a message or
    a hint (module-level string constants followed), with its line."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    constants = _constants(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _error_name(node.func):
            parts = list(node.args) + [k.value for k in node.keywords if k.arg in ("hint", "message")]
            found += [(node.lineno, t) for part in parts for t in _texts(part, constants)]
    return found


def raised_codes() -> dict[str, set[str]]:
    """Each ``code=`` the library raises, with the data keys given with it."""
    codes: dict[str, set[str]] = {}
    for path in library_modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = _constants(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _error_name(node.func):
                kw = {k.arg: k.value for k in node.keywords}
                code = _texts(kw["code"], constants) if "code" in kw else []
                if code:
                    keys = {k for k in kw if k not in ("code", "hint", None)}
                    codes.setdefault(code[0], set()).update(keys)
    return codes


def test_the_scan_sees_the_raises():
    texts = [t for p in library_modules() for _, t in raised_texts(p)]
    assert len(texts) > 150  # the scan reads the library's messages, not nothing
    assert CLI_WORDS.search("pass --user NAME") and CLI_WORDS.search("run 'archive verify'")
    assert CLI_WORDS.search("set ARCHIVE_USER") and not CLI_WORDS.search("the archive department's admin")


def test_no_library_message_or_hint_names_the_cli():
    offending = [f"{p.relative_to(PACKAGE)}:{line}: {text!r}"
                 for p in library_modules() for line, text in raised_texts(p) if CLI_WORDS.search(text)]
    assert offending == []


def test_every_cli_hint_is_for_a_code_the_library_raises():
    codes = raised_codes()
    assert set(hints.CLI_HINTS) <= set(codes), set(hints.CLI_HINTS) - set(codes)


def test_every_cli_hint_formats_with_the_data_given():
    codes = raised_codes()
    for code, text in hints.CLI_HINTS.items():
        wanted = {name for _, name, _, _ in string.Formatter().parse(text) if name}
        given = codes[code] | ({"options"} if "fields" in codes[code] else set())
        assert wanted <= given, (code, wanted - given)


def test_the_cli_hint_replaces_the_library_hint_for_a_code():
    err = UsageError("no user given", "say who is signing in", code="no-user")
    assert hints.cli_hint(err) == hints.CLI_HINTS["no-user"]
    assert hints.cli_hint(UsageError("x", "plain")) == "plain"
    assert hints.cli_hint(UsageError("x")) is None


def test_a_hint_with_data_is_filled_in():
    err = NotFound("document C001-x not found", "list the dossier's documents", code="no-document", client="C001")
    assert "C001" in hints.cli_hint(err)


@pytest.mark.parametrize("cls", [UsageError, AccessDenied, NotFound, IntegrityError, ArchiveError])
def test_reworded_keeps_class_hint_code_and_data(cls):
    err = cls("inner", "the hint", code="damaged", file="x")
    again = err.reworded("where: inner")
    assert type(again) is cls and again.message == str(again) == "where: inner"
    assert (again.hint, again.code, again.data, again.exit_code) == ("the hint", "damaged", {"file": "x"}, err.exit_code)
