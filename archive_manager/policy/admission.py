"""The admission chain and the credit rules as the policy declares them
(``policies/admission.toml``): who applies, the review steps in order (each
a department and the document type its opinion is filed as, hence the class
it is kept in), how often credit is re-assessed, who changes a client's
status and who approves contract amendments. The library enforces it
(:mod:`archive_manager.admission`, :mod:`archive_manager.standing`); this
module only says what is declared, checked against departments, types and
grants so that every step can do its work with the keys it holds.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from typing import Any, Mapping

from archive_manager.errors import PolicyError
from archive_manager.policy.model import DocType, Grant

ADMISSION_FILE = "admission.toml"
# the client's signed decisions and its application live with the profile
RECORD_CLASS = "basic"
STEP_ID = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
# what a step may set when it approves (the credit step: rating and limit)
SETTABLE = ("credit_rating", "credit_limit", "payment_terms")


@dataclass(frozen=True)
class Step:
    id: str
    name: str  # display name (初审, 信用评估 ...)
    department: str
    opinion_type: str  # the document type its opinion is filed as
    opinion_class: str  # that type's class
    sets: tuple[str, ...] = ()  # profile fields its approval sets (required then)


@dataclass(frozen=True)
class AdmissionPolicy:
    applicants: tuple[str, ...]  # departments that start applications
    application_type: str  # the document type of the application itself
    steps: tuple[Step, ...]
    reassess_months: int  # credit is re-assessed this often
    due_within_days: int  # a re-assessment this close is "due"
    reassess_department: str
    reassess_type: str  # the document type a re-assessment's opinion is filed as
    status_departments: tuple[str, ...]  # who suspends, reinstates, terminates (and administrators)
    amendment_approver: str  # the department that approves contract amendments
    amendment_type: str

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    def index(self, step_id: str) -> int:
        return [s.id for s in self.steps].index(step_id)

    @property
    def own_types(self) -> frozenset[str]:
        """The document types only the admission itself files: the
        application, the steps' opinions, the re-assessment's opinion."""
        return frozenset({self.application_type, self.reassess_type, *(s.opinion_type for s in self.steps)})

    def snapshot(self) -> list[dict]:
        """The steps as an application records them (signed with it)."""
        return [{"id": s.id, "name": s.name, "department": s.department, "opinion_type": s.opinion_type,
                 "sets": list(s.sets)} for s in self.steps]


def _fail(key: str, reason: str) -> PolicyError:
    return PolicyError(f"{ADMISSION_FILE}: {key}: {reason}", hint="fix the policy file and try again")


def _table(data: dict, key: str) -> dict:
    value = data.get(key)
    if not isinstance(value, dict):
        raise _fail(key, "missing table")
    return value


def _text(table: dict, where: str, key: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _fail(f"{where}.{key}", "missing or empty")
    return value


def _int(table: dict, where: str, key: str, default: int, low: int, high: int) -> int:
    value = table.get(key, default)
    if type(value) is not int or not low <= value <= high:
        raise _fail(f"{where}.{key}", f"must be a whole number from {low} to {high}")
    return value


def _unknown(table: dict, where: str, allowed: set[str]) -> None:
    extra = sorted(set(table) - allowed)
    if extra:
        raise _fail(f"{where}.{extra[0]}", "unknown key")


class _Checker:
    def __init__(self, departments: Mapping[str, str], types: Mapping[str, DocType], grants: Mapping[str, Grant]):
        self.departments, self.types, self.grants = departments, types, grants

    def department(self, where: str, dept: Any) -> str:
        if not isinstance(dept, str) or dept not in self.departments:
            raise _fail(where, f"unknown department {dept!r} (define it in departments.toml)")
        return dept

    def doc_type(self, where: str, type_id: Any) -> DocType:
        if not isinstance(type_id, str) or type_id not in self.types:
            raise _fail(where, f"unknown document type {type_id!r} (define it in types.toml)")
        return self.types[type_id]

    def holds(self, where: str, dept: str, *classes: str) -> None:
        grant = self.grants.get(dept)
        for cls in classes:
            if grant is None or cls not in grant.classes:
                raise _fail(where, f"department {dept!r} holds no key of class {cls!r}, so it could not do this "
                                   "step's work (grant it the class in grants.toml)")


def _steps(raw: Any, check: _Checker) -> tuple[Step, ...]:
    if not isinstance(raw, list) or not raw:
        raise _fail("admission.steps", "the chain needs at least one step ([[admission.steps]])")
    steps, seen = [], set()
    for n, entry in enumerate(raw, 1):
        where = f"admission.steps[{n}]"
        if not isinstance(entry, dict):
            raise _fail(where, "must be a table")
        _unknown(entry, where, {"id", "name", "department", "opinion_type", "sets"})
        ident = _text(entry, where, "id")
        if not STEP_ID.fullmatch(ident) or ident in seen:
            raise _fail(f"{where}.id", f"{ident!r} is not a fresh step id (lower-case letters, digits, '-')")
        seen.add(ident)
        dept = check.department(f"{where}.department", entry.get("department"))
        opinion = check.doc_type(f"{where}.opinion_type", entry.get("opinion_type"))
        check.holds(where, dept, RECORD_CLASS, opinion.access_class)
        sets = entry.get("sets", [])
        if not isinstance(sets, list) or not all(s in SETTABLE for s in sets):
            raise _fail(f"{where}.sets", f"a list of fields out of {', '.join(SETTABLE)}")
        steps.append(Step(ident, _text(entry, where, "name"), dept, opinion.id, opinion.access_class,
                          tuple(dict.fromkeys(sets))))
    return tuple(steps)


def parse_admission(text: str, departments: Mapping[str, str], types: Mapping[str, DocType],
                    grants: Mapping[str, Grant]) -> AdmissionPolicy:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{ADMISSION_FILE}: invalid TOML: {exc}") from None
    _unknown(data, "(top level)", {"admission", "credit", "amendment"})
    check = _Checker(departments, types, grants)
    adm = _table(data, "admission")
    _unknown(adm, "admission", {"applicants", "application_type", "steps"})
    applicants = adm.get("applicants")
    if not isinstance(applicants, list) or not applicants:
        raise _fail("admission.applicants", "a non-empty list of departments")
    application = check.doc_type("admission.application_type", adm.get("application_type"))
    if application.access_class != RECORD_CLASS:
        raise _fail("admission.application_type", f"the application is kept with the client's record: its type "
                                                  f"must be of class {RECORD_CLASS!r}")
    for dept in applicants:
        check.department("admission.applicants", dept)
        check.holds("admission.applicants", dept, RECORD_CLASS)
    steps = _steps(adm.get("steps"), check)
    credit = _table(data, "credit")
    _unknown(credit, "credit", {"reassess_months", "due_within_days", "department", "opinion_type",
                                "status_departments"})
    reassess_dept = check.department("credit.department", credit.get("department"))
    reassess = check.doc_type("credit.opinion_type", credit.get("opinion_type"))
    check.holds("credit", reassess_dept, RECORD_CLASS, reassess.access_class)
    status = credit.get("status_departments", [])
    if not isinstance(status, list):
        raise _fail("credit.status_departments", "a list of departments")
    for dept in status:
        check.department("credit.status_departments", dept)
        check.holds("credit.status_departments", dept, RECORD_CLASS)
    amend = _table(data, "amendment")
    _unknown(amend, "amendment", {"approver", "type"})
    approver = check.department("amendment.approver", amend.get("approver"))
    amendment = check.doc_type("amendment.type", amend.get("type"))
    check.holds("amendment", approver, RECORD_CLASS, amendment.access_class)
    return AdmissionPolicy(tuple(dict.fromkeys(applicants)), application.id, steps,
                           _int(credit, "credit", "reassess_months", 12, 1, 120),
                           _int(credit, "credit", "due_within_days", 30, 0, 365), reassess_dept, reassess.id,
                           tuple(dict.fromkeys(status)), approver, amendment.id)


__all__ = ["ADMISSION_FILE", "RECORD_CLASS", "SETTABLE", "AdmissionPolicy", "Step", "parse_admission"]
