"""Text that users type and the archive shows: what may go in, and how it comes out.

Values that end up in documents, metadata or a terminal (client names, titles,
``--set`` values, sidecar fields) may not hold control characters: a ``\\x01``
makes docxtpl's lenient XML parser drop later markup, ``\\x0c``/``\\x07`` insert
breaks, and an escape sequence in a title would reach an auditor's terminal.
Tab and newline are allowed only where a field is multi-line.
"""

from __future__ import annotations

import unicodedata

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
    ``\\u....`` escape; CJK and other printable text unchanged."""
    out = []
    for ch in value:
        if ch.isprintable() or ch == " ":
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return "".join(out)


__all__ = ["check_text", "printable"]
