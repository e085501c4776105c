"""Where a client stands: its status, its credit terms and when they are due
for re-assessment, read from the client's signed decisions
(:mod:`archive_manager.decisions`) and changed only by signing a new one:
``archive client status``, ``archive client reassess``, ``archive client due``.

The decisions live in the metadata of the client's basic slot beside the
profile. The profile's credit fields (credit_rating, credit_limit) are set
from the latest signed decision that set them, so paperwork and pages that
read the profile see them; the decisions are what ``verify`` checks them
against.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime
from typing import Iterable

from archive_manager.decisions import Standing, append_entry, check_links, replay
from archive_manager.errors import AccessDenied, ConflictError, UsageError
from archive_manager.policy.admission import RECORD_CLASS, AdmissionPolicy
from archive_manager.results import Result
from archive_manager.session import Session
from archive_manager.text import check_text
from archive_manager.vault.slot import Slot

DECISIONS = "decisions"  # the basic slot's metadata key
STATUSES = ("admitted", "suspended", "terminated")
ADMIN = "archive"


def admission_policy(session: Session) -> AdmissionPolicy:
    policy = session.policy.admission
    if policy is None:
        raise UsageError("this archive's policy has no admission chain (policies/admission.toml)",
                         hint="an administrator copies the shipped policies/admission.toml into the archive's "
                              "policies/ and signs the policy", code="no-admission-policy")
    return policy


def check_decisions(session: Session, slot: Slot | None, users=None) -> Standing:
    """The client's standing from ``slot`` (its basic slot), every decision
    checked: signatures under the keys of the signed user registry, links,
    departments, and each allowed where it stood."""
    entries = slot.meta.get(DECISIONS, []) if slot is not None else []
    users = users if users is not None else session.users()

    def public_key(name: str) -> bytes | None:
        rec = users.users.get(name)
        return rec.identity.sign_public if rec is not None else None

    def member(name: str, dept: str) -> bool:
        rec = users.users.get(name)
        return rec is not None and dept in rec.departments

    check_links(entries, session.vault.vault_id, slot.dossier if slot is not None else "", public_key, member)
    return replay(entries, session.policy.admission)


def read_standing(session: Session, code: str) -> Standing:
    """``code``'s standing (the caller has checked the user reads class basic)."""
    directory = session.directory()
    return check_decisions(session, session.slot(directory, directory.client(code)["dossier"], RECORD_CLASS))


def acting_department(session: Session, allowed: Iterable[str], what: str) -> str:
    """The user's department among ``allowed`` (the first the policy lists), or AccessDenied."""
    allowed = list(allowed)
    for dept in allowed:
        if dept in session.departments:
            return dept
    names = "、".join(session.policy.departments.get(d, d) for d in allowed) or "none"
    raise AccessDenied(f"user {session.user!r} ({', '.join(session.departments) or 'no department'}) may not {what}",
                       hint=f"this is the work of: {names}", code="wrong-department", departments=allowed)


def sign_decision(session: Session, slot: Slot, kind: str, fields: dict, department: str) -> dict:
    """Append a decision signed by the user to ``slot``'s metadata (the caller stages the slot)."""
    entries = list(slot.meta.get(DECISIONS, []))
    entry = append_entry(entries, kind, fields, user=session.user, department=department,
                         time=session.runtime.timestamp(), vault_id=session.vault.vault_id, dossier=slot.dossier,
                         sign=session.keyring.sign)
    slot.meta[DECISIONS] = [*entries, entry]
    return entry


def set_credit_fields(slot: Slot, values: dict[str, str]) -> None:
    """Copy signed credit terms into the profile (its history keeps the old ones)."""
    profile = dict(slot.meta.get("profile", {}))
    for key, value in values.items():
        if value is not None:
            profile[key] = value
    slot.meta["profile"] = profile


@dataclass(frozen=True)
class StatusChange(Result):
    client: str
    name: str
    status: str
    previous: str
    reason: str
    decision: int  # the signed decision's number


def change_status(session: Session, code: str, status: str, reason: str) -> StatusChange:
    """Suspend, reinstate (``admitted``) or terminate a client, signed with a reason."""
    with session.recorded("client-status", client=code, status=status) as rec:
        policy = admission_policy(session)
        if status not in STATUSES:
            raise UsageError(f"unknown status {status!r}", hint=f"one of {', '.join(STATUSES)}",
                             code="bad-status")
        reason = check_text(reason or "", "the reason", multiline=True).strip()
        if not reason:
            raise UsageError("a change of status needs a reason", hint="say why", code="no-reason")
        rec["reason"] = reason
        dept = acting_department(session, (*policy.status_departments, ADMIN), "change a client's status")
        with session.transaction() as tx:
            slot, created = session.slot_to_write(code, RECORD_CLASS)
            standing = check_decisions(session, None if created else slot)
            if standing.status not in ("admitted", "suspended") or standing.status == status:
                raise ConflictError(f"client {code!r} is {standing.status}: it does not become {status}",
                                    hint="a terminated or rejected client stays so; an applying one is decided by "
                                         "its review", code="bad-status-change")
            entry = sign_decision(session, slot, "status", {"status": status, "reason": reason}, dept)
            session.stage_slot(tx, slot, created)
            directory = session.directory()
            directory.mark(code, status=status)
            session.write_directory(tx, directory)
            rec.objects["decision"] = entry["n"]
        return StatusChange(code, directory.clients[code]["name"], status, standing.status, reason, entry["n"])


def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class DueAssessment(Result):
    """A client whose credit re-assessment is due (within the policy's days) or overdue."""
    client: str
    name: str
    status: str
    rating: str | None
    limit: str | None
    assessed: str | None  # date of the last assessment (None: never)
    due: str  # date
    days_overdue: int  # negative: days left


def due_reassessments(session: Session, today: date | None = None) -> list[DueAssessment]:
    with session.recorded("client-due"):
        policy = admission_policy(session)
        session.require("read", RECORD_CLASS)
        today = today or session.runtime.now().date()
        directory = session.directory()
        users = session.users()
        rows = []
        for code, entry in sorted(directory.clients.items()):
            if entry.get("status", "admitted") not in ("admitted", "suspended"):
                continue
            standing = check_decisions(session, session.slot(directory, entry["dossier"], RECORD_CLASS), users)
            if standing.status not in ("admitted", "suspended"):
                continue
            assessed = _day(standing.credit.assessed) if standing.credit.assessed else None
            due = add_months(assessed, policy.reassess_months) if assessed else _day(entry["created"])
            overdue = (today - due).days
            if overdue >= -policy.due_within_days:
                rows.append(DueAssessment(code, entry["name"], standing.status, standing.credit.rating,
                                          standing.credit.limit, assessed.isoformat() if assessed else None,
                                          due.isoformat(), overdue))
        return sorted(rows, key=lambda r: (-r.days_overdue, r.client))


def _day(timestamp: str) -> date:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).date()


__all__ = ["DECISIONS", "STATUSES", "DueAssessment", "StatusChange", "acting_department", "add_months",
           "admission_policy", "change_status", "check_decisions", "due_reassessments", "read_standing",
           "set_credit_fields", "sign_decision"]
