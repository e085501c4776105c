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
import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Iterable

from archive_manager.decisions import Standing, append_entry, check_links, entry_hash, replay
from archive_manager.decisions.chain import canonical
from archive_manager.errors import AccessDenied, ArchiveError, ConflictError, UsageError
from archive_manager.policy.admission import RECORD_CLASS, AdmissionPolicy
from archive_manager.results import Result
from archive_manager.session import Session
from archive_manager.text import check_text
from archive_manager.vault.slot import Slot

DECISIONS = "decisions"  # the basic slot's metadata key of the client's signed decisions
APPLICATION = "application"  # and of the application as last submitted (its hash is signed)
MAX_OPINION = 20_000
STATUSES = ("admitted", "suspended", "terminated")
ADMIN = "archive"


def application_hash(app: dict) -> str:
    """The SHA-256 a submission signs of the application it submits."""
    return hashlib.sha256(canonical(app)).hexdigest()


def check_opinion(opinion: str | None) -> str:
    """The text of an opinion (or a note), stripped: present, printable, bounded."""
    opinion = check_text(opinion or "", "the opinion", multiline=True).strip()
    if not opinion:
        raise UsageError("an opinion needs its text", hint="say what you found and why", code="no-opinion")
    if len(opinion) > MAX_OPINION:
        raise UsageError(f"the opinion is longer than {MAX_OPINION} characters", code="long-opinion")
    return opinion


def admission_policy(session: Session) -> AdmissionPolicy:
    policy = session.policy.admission
    if policy is None:
        raise UsageError("this archive's policy has no admission chain (policies/admission.toml)",
                         hint="an administrator copies the shipped policies/admission.toml into the archive's "
                              "policies/ and signs the policy", code="no-admission-policy")
    return policy


def check_decisions(session: Session, slot: Slot | None, users=None, code: str | None = None,
                    entry: dict | None = None) -> Standing:
    """The client's standing from ``slot`` (its basic slot), every decision
    checked: signatures under the keys of the signed user registry, links,
    departments, and each allowed where it stood. ``entry``, the client's
    directory entry, says whether a record must exist: a client the
    directory marks with a status was admitted or registered under issue 18,
    so a missing slot or an empty record is damage, not a client from before."""
    entries = slot.meta.get(DECISIONS, []) if slot is not None else []
    if not entries and entry is not None and "status" in entry:
        from archive_manager.decisions import DecisionError
        raise DecisionError(f"the signed record of client {code or entry.get('name')!r} is missing (its basic "
                            "information was removed, moved, or put back from before the client had a record)")
    users = users if users is not None else session.users()

    def public_key(name: str) -> bytes | None:
        rec = users.users.get(name)
        return rec.identity.sign_public if rec is not None else None

    def member(name: str, dept: str) -> bool:
        rec = users.users.get(name)
        return rec is not None and dept in rec.departments

    check_links(entries, session.vault.vault_id, slot.dossier if slot is not None else "", public_key, member)
    if entries:
        _check_opening(session, entries[0])
        if code is not None and entries[0].get("client", code) != code:
            from archive_manager.decisions import DecisionError
            raise DecisionError(f"the record in {code}'s dossier is another client's ({entries[0].get('client')})", 1)
    return replay(entries, session.policy.admission,
                  {t: d.access_class for t, d in session.policy.types.items()})


def _check_opening(session: Session, first: dict) -> None:
    """The first decision is not its own authority: an application carries
    the signed policy it started under (endorsed by an administrator the
    trust anchor vouches for), and its steps and applicant must be that
    policy's; a registration is an administrator's."""
    from archive_manager.decisions import DecisionError
    from archive_manager.vault.signed_policy import SignedPolicy

    if first["kind"] == "register":
        if first["department"] != ADMIN:
            raise DecisionError("decision 1 registers a client without an administrator", 1)
        return
    if first["kind"] != "apply":
        return  # a client added before issue 18 (its record starts later)
    signed = first.get("policy")
    try:
        policy = SignedPolicy(dict(signed["files"]), signed["catalog"], int(signed["seq"]), signed["time"],
                              signed["endorsement"], dict(signed.get("templates", {}))).verify(session.trust).policy().admission
    except (KeyError, TypeError, ValueError, ArchiveError):
        raise DecisionError("decision 1 (the application) does not carry a policy signed by an administrator",
                            1) from None
    if policy is None or first.get("steps") != policy.snapshot() or first["department"] not in policy.applicants:
        raise DecisionError("decision 1 (the application) names steps or an applicant its signed policy does not",
                            1)


def read_standing(session: Session, code: str) -> Standing:
    """``code``'s standing (the caller has checked the user reads class basic)."""
    directory = session.directory()
    entry = directory.client(code)
    return check_decisions(session, session.slot(directory, entry["dossier"], RECORD_CLASS), code=code, entry=entry)


def acting_department(session: Session, allowed: Iterable[str], what: str) -> str:
    """The user's department among ``allowed`` (the first the policy lists), or AccessDenied."""
    allowed = list(allowed)
    for dept in allowed:
        if dept in session.departments:
            return dept
    names = "、".join(session.policy.departments.get(d, d) for d in allowed) or "none"
    raise AccessDenied(f"user {session.user!r} ({', '.join(session.departments) or 'no department'}) may not {what}",
                       hint=f"this is the work of: {names}", code="wrong-department", departments=allowed)


def sign_decision(session: Session, slot: Slot, kind: str, fields: dict, department: str, rec) -> dict:
    """Append a decision signed by the user to ``slot``'s metadata (the caller
    stages the slot), and name it in the action's audit event (``rec``): its
    number and its hash, the head of the client's record from this commit on,
    which ``verify`` holds the record to."""
    entries = list(slot.meta.get(DECISIONS, []))
    entry = append_entry(entries, kind, fields, user=session.user, department=department,
                         time=session.runtime.timestamp(), vault_id=session.vault.vault_id, dossier=slot.dossier,
                         sign=session.keyring.sign)
    slot.meta[DECISIONS] = [*entries, entry]
    rec.objects.update(entry=entry["n"], head=entry_hash(entry))
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
            standing = check_decisions(session, None if created else slot, code=code,
                                       entry=session.directory().client(code))
            if standing.status not in ("admitted", "suspended") or standing.status == status:
                raise ConflictError(f"client {code!r} is {standing.status}: it does not become {status}",
                                    hint="a terminated or rejected client stays so; an applying one is decided by "
                                         "its review", code="bad-status-change")
            entry = sign_decision(session, slot, "status", {"status": status, "reason": reason}, dept, rec)
            session.stage_slot(tx, slot, created)
            directory = session.directory()
            directory.mark(code, status=status)
            session.write_directory(tx, directory)
        return StatusChange(code, directory.clients[code]["name"], status, standing.status, reason, entry["n"])


@dataclass(frozen=True)
class Reassessment(Result):
    client: str
    name: str
    rating: str
    limit: str
    previous_rating: str | None
    previous_limit: str | None
    opinion: str  # the opinion document
    decision: int
    warnings: list[str] = field(default_factory=list)


def reassess_credit(session: Session, code: str, rating: str, limit: str, opinion: str,
                    terms: str | None = None) -> Reassessment:
    """Re-assess an admitted (or suspended) client's credit (§五(一)3): the
    credit department's opinion filed in its class, the new rating and limit
    signed as a decision and copied into the profile, in one commit."""
    from archive_manager.clients import check_profile_value
    from archive_manager.filing import FilingRequest, index_after_commit, named, stage_document, text_extraction

    with session.recorded("client-reassess", client=code) as rec:
        policy = admission_policy(session)
        dept = acting_department(session, [policy.reassess_department], "re-assess a client's credit")
        text = check_opinion(opinion)
        declared = session.policy.profile or {}
        values = {"credit_rating": rating, "credit_limit": limit, **({"payment_terms": terms} if terms else {})}
        for key, value in list(values.items()):
            if not (value or "").strip():
                raise UsageError(f"a re-assessment needs {key}", code="missing-sets")
            values[key] = check_profile_value(declared[key], value) if key in declared else check_text(value, key)
        rec.update(opinion=text, **values)
        opinion_class = session.policy.doc_type(policy.reassess_type).access_class
        warnings: list[str] = []
        with session.transaction() as tx:
            basic, created = session.slot_to_write(code, RECORD_CLASS)
            before = check_decisions(session, None if created else basic, code=code,
                                     entry=session.directory().client(code))
            if before.status not in ("admitted", "suspended"):
                raise ConflictError(f"client {code!r} is {before.status}: its credit is not re-assessed",
                                    code="bad-status-change")
            name = session.directory().client(code)["name"]
            target, target_created = (basic, created) if opinion_class == RECORD_CLASS else \
                session.slot_to_write(code, opinion_class)
            lines = ["信用复评意见", f"客户：{code} {name}", f"评估人：{session.record.display_name or session.user}",
                     f"信用等级：{values['credit_rating']}（原 {before.credit.rating or '无'}）",
                     f"信用额度（元）：{values['credit_limit']}（原 {before.credit.limit or '无'}）", "", text]
            body = "\n".join(lines) + "\n"
            doc = stage_document(tx, session, target, FilingRequest(
                named(f"信用复评-{code}.txt"), code, policy.reassess_type, title=f"信用复评（{name}）"),
                body.encode("utf-8"), text_extraction(body), name)
            entry = sign_decision(session, basic, "reassess", {
                **values, "reason": text[:500],
                "opinion": {"doc": doc.doc_id, "version": doc.version, "sha256": doc.sha256, "class": opinion_class}},
                dept, rec)
            set_credit_fields(basic, values)
            if target is not basic:
                session.stage_slot(tx, target, target_created)
            session.stage_slot(tx, basic, created)
            rec.objects["opinion"] = doc.doc_id
            index_after_commit(tx, session, [doc.index], warnings)
        return Reassessment(code, name, values["credit_rating"], values["credit_limit"], before.credit.rating,
                            before.credit.limit, doc.doc_id, entry["n"], warnings)


def decision_problems(session: Session, code: str, dossier: str, users=None,
                      heads: dict[str, tuple[str, str, int]] | None = None) -> list[str]:
    """What ``verify`` finds wrong with ``code``'s signed decisions: the
    chain itself (signatures, links, departments, each allowed where it
    stood), the application as stored against the content hash its last
    submission signed, every opinion document (and every attachment named
    in a signed decision) against the SHA-256 its decision signed, where the
    user holds its class, and the profile's credit terms against the signed
    ones."""
    from archive_manager.decisions import DecisionError

    directory = session.directory()
    slots: dict = {}

    def loaded(cls: str):
        """The slot, or None where it cannot be read: verify's check of the slot itself reports that."""
        if cls not in slots:
            try:
                slots[cls] = session.slot(directory, dossier, cls)
            except ArchiveError:
                slots[cls] = None
        return slots[cls]

    try:
        slot = slots[RECORD_CLASS] = session.slot(directory, dossier, RECORD_CLASS)
    except ArchiveError:
        return []  # unreadable: verify's check of the slot itself reports it
    try:
        standing = check_decisions(session, slot, users, code, directory.client(code))
    except DecisionError as exc:
        return [exc.message]
    if slot is None:
        return []
    problems = []
    head = (heads or {}).get(code)
    if head is not None and standing.entries:
        last = standing.entries[-1]
        if (entry_hash(last), last["user"]) != head[:2]:
            problems.append(f"the record ends at decision {last['n']} ({last['kind']} by {last['user']!r}), but the "
                            f"audit log's last decision for the client (event {head[2]}) names another: decisions "
                            "were cut off, removed or added outside the archive's own steps")
    elif head is not None:
        problems.append(f"the record is empty, but the audit log's event {head[2]} wrote a decision to it")
    app = standing.application
    if app is not None and application_hash(slot.meta.get(APPLICATION, {})) != app.content:
        problems.append(f"application {app.id} is not what its last submission signed")
    held = set(session.classes_for("read"))
    for entry in standing.entries:
        named = [entry["opinion"]] if isinstance(entry.get("opinion"), dict) else []
        if entry["kind"] in ("apply", "resubmit") and "sha256" in entry:
            named.append({"doc": entry.get("doc"), "version": entry.get("version"), "sha256": entry["sha256"],
                          "class": RECORD_CLASS})
        named += [{**a, "class": session.policy.types[a["type"]].access_class} for a in entry.get("attachments", [])
                  if isinstance(a, dict) and a.get("type") in session.policy.types]
        if entry["kind"] == "apply":
            named += [{**a, "class": session.policy.types[a["type"]].access_class}
                      for a in slot.meta.get(APPLICATION, {}).get("attachments", [])
                      if a.get("type") in session.policy.types]
        for doc in named:
            cls = doc.get("class")
            if cls not in held:
                continue
            target = loaded(cls)
            versions = (target.documents.get(doc.get("doc"), {}) if target else {}).get("versions", [])
            version = next((v for v in versions if v["version"] == doc.get("version")), None)
            if version is None or version["sha256"] != doc.get("sha256"):
                problems.append(f"decision {entry['n']}: document {doc.get('doc')} version {doc.get('version')} "
                                "is missing or is not the one signed")
    from archive_manager.amendments import amendment_problems
    try:
        problems += amendment_problems(session, code, standing)
    except ArchiveError:
        pass  # the contract slot cannot be read: verify's check of the slot reports it
    profile = slot.meta.get("profile", {}) if slot is not None else {}
    if standing.recorded and standing.status != "applying":  # the terms enter the profile on admission
        for key, signed in (("credit_rating", standing.credit.rating), ("credit_limit", standing.credit.limit)):
            if signed is not None and profile.get(key) != signed:
                problems.append(f"the profile's {key} ({profile.get(key)}) is not the signed one ({signed})")
    return problems


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
        for code, entry in sorted(directory.clients.items()):  # every client: the directory's status is no record
            try:
                standing = check_decisions(session, session.slot(directory, entry["dossier"], RECORD_CLASS), users,
                                           code, entry)
            except ArchiveError:
                continue  # verify reports it; one damaged record does not hide the others
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


__all__ = ["acting_department", "add_months", "admission_policy", "APPLICATION", "application_hash",
           "change_status", "check_decisions", "check_opinion", "decision_problems", "DECISIONS",
           "due_reassessments", "DueAssessment", "MAX_OPINION", "read_standing", "reassess_credit", "Reassessment",
           "set_credit_fields", "sign_decision", "StatusChange", "STATUSES"]
