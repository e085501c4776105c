"""Load and validate the policy TOML files; every mistake names file, key and reason."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Mapping

from archive_manager.errors import PolicyError
from archive_manager.policy.model import ACTIONS, ADMIN_DEPARTMENT, AccessClass, DocType, Grant, Policy
from archive_manager.policy.admission import ADMISSION_FILE, parse_admission
from archive_manager.policy.company import COMPANY_FILE, parse_company
from archive_manager.policy.profile import PROFILE_FILE, parse_profile

# The files of a policy (what ``archive init`` copies from the shipped defaults).
POLICY_FILES = ("classes.toml", "types.toml", "departments.toml", "grants.toml", PROFILE_FILE, ADMISSION_FILE,
                COMPANY_FILE)
# Read and signed with the others where present: an archive made before the
# file was shipped lacks it, and the policy says what that means (see Policy).
OPTIONAL_POLICY_FILES = (PROFILE_FILE, ADMISSION_FILE, COMPANY_FILE)
_IDENT = re.compile(r"^[a-z][a-z0-9-]{0,39}$")


def _fail(file: str, key: str, reason: str) -> PolicyError:
    return PolicyError(f"{file}: {key}: {reason}", hint="fix the policy file and try again")


def read_policy_files(directory: Path) -> dict[str, str]:
    """The text of each policy file in ``directory`` (an optional file only if present)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise PolicyError(f"policy directory {directory} does not exist",
                          hint="an archive's creation copies the shipped policies", code="no-policy-dir")
    texts = {}
    for file in POLICY_FILES:
        try:
            texts[file] = (directory / file).read_text(encoding="utf-8")
        except FileNotFoundError:
            if file in OPTIONAL_POLICY_FILES:
                continue
            raise PolicyError(f"{file}: file is missing in {directory}",
                              hint="restore the shipped policies/", code="no-policies") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyError(f"{file}: cannot read: {exc}") from None
    return texts


def _read(texts: Mapping[str, str], file: str) -> dict[str, Any]:
    text = texts[file]
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{file}: invalid TOML: {exc}") from None
    for ident, entry in data.items():
        if not _IDENT.fullmatch(ident):
            raise _fail(file, ident, "invalid identifier (use lower-case letters, digits and '-')")
        if not isinstance(entry, dict):
            raise _fail(file, ident, "must be a table")
    return data


def _name(file: str, ident: str, entry: dict) -> str:
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _fail(file, f"{ident}.name", "missing or empty display name")
    return name


def _str_list(file: str, key: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(file, key, "must be a list of strings")
    return value


def _unknown_keys(file: str, ident: str, entry: dict, allowed: set[str]) -> None:
    extra = sorted(set(entry) - allowed)
    if extra:
        raise _fail(file, f"{ident}.{extra[0]}", "unknown key")


def _load_types(directory: Mapping[str, str]) -> dict[str, str]:
    data = _read(directory, "types.toml")
    out = {}
    for ident, entry in data.items():
        _unknown_keys("types.toml", ident, entry, {"name"})
        out[ident] = _name("types.toml", ident, entry)
    return out


def _load_classes(directory: Mapping[str, str], type_names: dict[str, str]) -> tuple[dict, dict]:
    data = _read(directory, "classes.toml")
    classes: dict[str, AccessClass] = {}
    owner: dict[str, str] = {}
    for ident, entry in data.items():
        _unknown_keys("classes.toml", ident, entry, {"name", "types"})
        name = _name("classes.toml", ident, entry)
        if "types" not in entry:
            raise _fail("classes.toml", f"{ident}.types", "missing list of document types")
        types = _str_list("classes.toml", f"{ident}.types", entry["types"])
        for t in types:
            if t not in type_names:
                raise _fail("classes.toml", f"{ident}.types", f"unknown document type {t!r} (define it in types.toml)")
            if t in owner:
                raise _fail("classes.toml", f"{ident}.types", f"type {t!r} is in two classes ({owner[t]}, {ident})")
            owner[t] = ident
        classes[ident] = AccessClass(ident, name, tuple(types))
    for t in type_names:
        if t not in owner:
            raise _fail("types.toml", t, "type is in no class (list it in classes.toml)")
    if not classes:
        raise PolicyError("classes.toml: no access class is defined")
    types = {t: DocType(t, type_names[t], owner[t]) for t in type_names}
    return classes, types


def _load_grants(directory: Mapping[str, str], classes: dict, departments: dict) -> dict[str, Grant]:
    data = _read(directory, "grants.toml")
    grants = {}
    for dept, entry in data.items():
        if dept not in departments:
            raise _fail("grants.toml", dept, f"unknown department {dept!r} (define it in departments.toml)")
        _unknown_keys("grants.toml", dept, entry, {"classes", "actions"})
        cls = _str_list("grants.toml", f"{dept}.classes", entry.get("classes", []))
        acts = _str_list("grants.toml", f"{dept}.actions", entry.get("actions", []))
        for c in cls:
            if c not in classes:
                raise _fail("grants.toml", f"{dept}.classes", f"unknown class {c!r}")
        for a in acts:
            if a not in ACTIONS:
                raise _fail("grants.toml", f"{dept}.actions", f"unknown action {a!r} (known: {', '.join(ACTIONS)})")
        if "admin" in acts and dept != ADMIN_DEPARTMENT:
            raise _fail("grants.toml", f"{dept}.actions",
                        f"only the {ADMIN_DEPARTMENT!r} department may hold 'admin': its members are the "
                        "administrators the archive's signatures chain to")
        grants[dept] = Grant(dept, frozenset(cls), frozenset(acts))
    return grants


def load_policy(directory: Path) -> Policy:
    """Read and validate ``directory``/{classes,types,departments,grants}.toml (and profile.toml)."""
    return parse_policy(read_policy_files(directory))


def parse_policy(directory: Mapping[str, str]) -> Policy:
    """Validate the policy files' texts (file name -> text)."""
    type_names = _load_types(directory)
    classes, types = _load_classes(directory, type_names)
    dept_data = _read(directory, "departments.toml")
    departments = {}
    for ident, entry in dept_data.items():
        _unknown_keys("departments.toml", ident, entry, {"name"})
        departments[ident] = _name("departments.toml", ident, entry)
    grants = _load_grants(directory, classes, departments)
    admin_grant = grants.get(ADMIN_DEPARTMENT)
    if admin_grant is None or "admin" not in admin_grant.actions:
        raise PolicyError(f"departments.toml, grants.toml: the {ADMIN_DEPARTMENT!r} department with the "
                          "'admin' action is required", hint="restore it from the shipped policies/")
    profile = parse_profile(directory[PROFILE_FILE], departments, grants) if PROFILE_FILE in directory else None
    admission = (parse_admission(directory[ADMISSION_FILE], departments, types, grants)
                 if ADMISSION_FILE in directory else None)
    company = parse_company(directory[COMPANY_FILE]) if COMPANY_FILE in directory else {}
    return Policy(classes=classes, types=types, departments=departments, grants=grants, profile=profile,
                  admission=admission, company=company)
