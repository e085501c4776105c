"""Text that users type and the archive shows: what may go in, and how it comes out.

Values that end up in documents, metadata or a terminal (client names, titles,
``--set`` values, sidecar fields) may not hold control characters: a ``\\x01``
makes docxtpl's lenient XML parser drop later markup, ``\\x0c``/``\\x07`` insert
breaks, and an escape sequence in a title would reach an auditor's terminal.
Tab and newline are allowed only where a field is multi-line.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from archive_manager.errors import UsageError

_MULTILINE_OK = frozenset("\t\n")


def _bad_char(value: str, multiline: bool) -> str | None:
    for ch in value:
        if multiline and ch in _MULTILINE_OK:
            continue
        if unicodedata.category(ch) in ("Cc", "Cs") or ch in ("\u2028", "\u2029"):
            return ch
    return None


def check_text(value: str, what: str, *, multiline: bool = False) -> str:
    """``value`` unchanged, or a :class:`UsageError` naming the first control
    character (tab and newline pass where ``multiline``)."""
    bad = _bad_char(value, multiline)
    if bad is not None:
        allowed = " (tab and newline are allowed)" if multiline else ""
        raise UsageError(f"{what} contains a control character U+{ord(bad):04X}{allowed}",
                         hint="remove control characters; type the value as plain text")
    return value


def printable(value: str) -> str:
    """``value`` safe for a terminal: every non-printable character (control
    characters, escape sequences, bidirectional overrides) as a ``\\x..`` or
    ``\\u....`` escape; CJK and other printable text unchanged. A byte that
    was not UTF-8 in a name from the disk (a surrogate escape) shows as the
    ``\\xNN`` it was."""
    out = []
    for ch in value:
        if ch.isprintable() or ch == " ":
            out.append(ch)
        elif 0xDC80 <= ord(ch) <= 0xDCFF:
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return "".join(out)


def check_nested(value: Any, what: str, *, multiline: bool = False) -> None:
    """:func:`check_text` on every string in ``value`` (dicts and lists as JSON
    holds them, to any depth, without recursion), names included; the error
    names the value's path (``business.need``, ``invoices[2].number``)."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            check_text(item, f"{what} {path}".rstrip(), multiline=multiline)
        elif isinstance(item, dict):
            children = []
            for key, child in item.items():
                where = f"{path}.{key}" if path else str(key)
                if isinstance(key, str):
                    check_text(key, f"{what} name {printable(where)}")
                children.append((where, child))
            stack.extend(reversed(children))
        elif isinstance(item, (list, tuple)):
            stack.extend(reversed([(f"{path}[{i}]", child) for i, child in enumerate(item)]))


def printable_nested(value: Any) -> Any:
    """``value`` with :func:`printable` applied to every string in it, dict
    keys included (lists and tuples come back as lists); numbers, booleans
    and None unchanged. For text output of data read from the archive."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {printable_nested(k): printable_nested(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [printable_nested(v) for v in value]
    return value


__all__ = ["check_nested", "check_text", "printable", "printable_nested"]
