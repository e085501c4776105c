"""The client profile as the policy declares it (``policies/profile.toml``):
its fields, what each holds and which departments own it. Administrators
change every field; an owner only its own. The values are checked by the
library (:mod:`archive_manager.clients`); this module only says what is declared.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from typing import Any, Mapping

from archive_manager.errors import PolicyError
from archive_manager.policy.model import Grant

PROFILE_FILE = "profile.toml"
# The profile lives in the metadata of the client's basic-information slot.
PROFILE_CLASS = "basic"
KINDS = ("text", "money", "credit-code", "choice")
# The directory holds these; templates read them as client.name and client.code.
RESERVED = ("name", "code")
FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass(frozen=True)
class ProfileField:
    id: str
    name: str  # display name
    kind: str
    owners: tuple[str, ...]  # in the order the policy lists them
    choices: tuple[str, ...] = ()


def _fail(key: str, reason: str) -> PolicyError:
    return PolicyError(f"{PROFILE_FILE}: {key}: {reason}", hint="fix the policy file and try again")


def _strings(key: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(key, "must be a list of strings")
    return value


def _field(ident: str, entry: dict, departments: Mapping[str, str], grants: Mapping[str, Grant]) -> ProfileField:
    extra = sorted(set(entry) - {"name", "kind", "owners", "choices"})
    if extra:
        raise _fail(f"{ident}.{extra[0]}", "unknown key")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _fail(f"{ident}.name", "missing or empty display name")
    kind = entry.get("kind")
    if kind not in KINDS:
        raise _fail(f"{ident}.kind", f"unknown kind {kind!r} (known: {', '.join(KINDS)})")
    choices = _strings(f"{ident}.choices", entry.get("choices", []))
    if kind == "choice" and (not choices or not all(c.strip() for c in choices)):
        raise _fail(f"{ident}.choices", "a choice needs a non-empty list of choices")
    if kind != "choice" and "choices" in entry:
        raise _fail(f"{ident}.choices", "only a field of kind 'choice' has choices")
    owners = _strings(f"{ident}.owners", entry.get("owners", []))
    for dept in owners:
        if dept not in departments:
            raise _fail(f"{ident}.owners", f"unknown department {dept!r} (define it in departments.toml)")
        grant = grants.get(dept)
        if grant is None or PROFILE_CLASS not in grant.classes:
            raise _fail(f"{ident}.owners", f"department {dept!r} holds no key of class {PROFILE_CLASS!r}, where "
                        "the profile is kept, so it could not change the field (grant it the class in grants.toml)")
    return ProfileField(ident, name, kind, tuple(dict.fromkeys(owners)), tuple(choices))


def parse_profile(text: str, departments: Mapping[str, str], grants: Mapping[str, Grant]) -> dict[str, ProfileField]:
    """The fields ``profile.toml`` declares, checked against the departments and grants."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{PROFILE_FILE}: invalid TOML: {exc}") from None
    fields = {}
    for ident, entry in data.items():
        if not FIELD_NAME.fullmatch(ident):
            raise _fail(ident, "invalid field name (use lower-case letters, digits and '_', starting with a letter)")
        if ident in RESERVED:
            raise _fail(ident, "reserved: the client's name and code are its directory entry, not profile fields")
        if not isinstance(entry, dict):
            raise _fail(ident, "must be a table")
        fields[ident] = _field(ident, entry, departments, grants)
    return fields


__all__ = ["FIELD_NAME", "KINDS", "PROFILE_CLASS", "PROFILE_FILE", "ProfileField", "parse_profile"]
