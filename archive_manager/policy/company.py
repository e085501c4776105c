"""The company letterhead as the policy declares it (``policies/company.toml``):
a flat table of strings (name, address, phone, bank, account ...) that
paperwork prints as ``company.*``. It is signed with the rest of the policy,
so a file writer cannot send a dunning letter's payments to another account:
until an administrator signs an edited letterhead, nothing is generated from
either version (the policy files and the signed copy disagree).

Archives made before the letterhead was signed kept it as ``[company]`` in
``archive.toml``; the policy sync takes it over once (see
:func:`archive_manager.accounts.sync_policy`).
"""

from __future__ import annotations

import json
import re
import tomllib
import unicodedata
from typing import Mapping

from archive_manager.errors import PolicyError

COMPANY_FILE = "company.toml"
# the fields the shipped templates print, in the order a form shows them
FIELDS = ("name", "address", "phone", "bank", "account")
KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_VALUE = 200
MAX_FIELDS = 30
# the shipped policies/company.toml is this header alone: a letterhead written by the admin desk
# differs from it only by its values
HEADER = ("# The company letterhead of generated paperwork (company.name, company.bank ... in the templates).\n"
          "# Signed with the policy: a change here is used only once an administrator signs it\n"
          "# (the admin desk's letterhead page, or 'archive policy diff' and 'archive policy sync').\n")


def _fail(key: str, reason: str) -> PolicyError:
    return PolicyError(f"{COMPANY_FILE}: {key}: {reason}", hint="fix the letterhead and try again",
                       code="bad-letterhead", field=key)


def check_value(key: str, value: object) -> str:
    """``value`` without surrounding spaces, or a :class:`PolicyError`: text
    of at most :data:`MAX_VALUE` characters, no control or format characters
    (a bidirectional override would make a letter show another account)."""
    if not isinstance(value, str):
        raise _fail(key, "must be a string")
    value = value.strip()
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            raise _fail(key, f"contains a control or format character U+{ord(ch):04X}")
    if len(value) > MAX_VALUE:
        raise _fail(key, f"longer than {MAX_VALUE} characters")
    return value


def parse_company(text: str) -> dict[str, str]:
    """The letterhead ``company.toml`` declares (empty values left out)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{COMPANY_FILE}: invalid TOML: {exc}", hint="fix the letterhead and try again",
                          code="bad-letterhead") from None
    if len(data) > MAX_FIELDS:
        raise _fail("(top level)", f"at most {MAX_FIELDS} values")
    out = {}
    for key, value in data.items():
        if not KEY.fullmatch(key):
            raise _fail(key, "invalid name (lower-case letters, digits and '_', starting with a letter)")
        value = check_value(key, value)
        if value:
            out[key] = value
    return out


def company_text(values: Mapping[str, str]) -> str:
    """``company.toml`` holding ``values`` (checked; empty ones left out), the
    known fields first."""
    order = {k: i for i, k in enumerate(FIELDS)}
    lines = [HEADER]
    for key in sorted(values, key=lambda k: (order.get(k, len(order)), k)):
        if not isinstance(key, str) or not KEY.fullmatch(key):
            raise _fail(str(key), "invalid name (lower-case letters, digits and '_', starting with a letter)")
        value = check_value(key, values[key])
        if value:  # a JSON string is a TOML basic string (control characters were refused)
            lines.append(f"{key} = {json.dumps(value, ensure_ascii=False)}\n")
    text = "".join(lines)
    parse_company(text)
    return text


__all__ = ["COMPANY_FILE", "FIELDS", "check_value", "company_text", "parse_company"]
