"""Contract amendments through approval (合同变更须经审批, the policy's §五(二)3;
issue 18.5).

- **draft**: ``generate`` of the template whose output is the policy's
  amendment type (``contract-amendment``) renders it with ``draft`` set (the
  title reads （草稿 DRAFT） and a line under it says it may not be signed) and
  files it through :func:`file_draft`: the document, titled ``…（草稿）``, and
  its entry in the draft register are one commit. The register is a key of
  the amendment class's slot metadata (``amendments``: doc id -> entry),
  sealed under that class like the document: the draft's version and
  SHA-256, the template and its file's SHA-256, and every value it was
  rendered from, so that approval renders the same text again without the
  mark.
- **approve** (a member of the policy's ``amendment.approver``, legal): the
  final text, rendered from the kept values without the mark, becomes the
  next version of the same document (titled without 草稿), the register
  entry is closed, and an ``amendment`` decision signed with the approver's
  key over the draft's SHA-256, the final's and the opinion is appended to
  the client's decisions (basic slot): one commit.
- **reject**: the signed decision names the draft and no final; the document
  stays a draft.

A draft is a draft in its text (the mark), in its title and in the register;
approved or rejected is what the client's signed decisions say
(:func:`list_amendments` reads them; :func:`amendment_problems` holds the
register and the document's versions to them for ``verify``). Every refusal
is recorded like every success (:meth:`Session.recorded`).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from archive_manager.decisions import Standing
from archive_manager.decisions.chain import canonical
from archive_manager.errors import AccessDenied, ConflictError, IntegrityError, NotFound
from archive_manager.filing import CommitSlots, FilingRequest, index_after_commit, stage_document
from archive_manager.generation.catalog import TemplateSpec
from archive_manager.generation.render import render
from archive_manager.identifiers import parse_doc_id
from archive_manager.policy.admission import RECORD_CLASS
from archive_manager.results import Result
from archive_manager.session import Session
from archive_manager.standing import (acting_department, admission_policy, check_decisions, check_opinion,
                                      sign_decision)

REGISTER = "amendments"  # the amendment class slot's metadata key: doc id -> draft entry
DRAFT_TITLE = "（草稿）"  # after a draft's title; the final's title is without it
STATES = {"approve": "approved", "reject": "rejected"}


@dataclass(frozen=True)
class AmendmentDecided(Result):
    """An amendment approved (its final text filed as ``final_version``) or rejected."""
    doc_id: str
    client: str
    decision: str  # approve, reject
    state: str  # approved, rejected
    draft_version: int
    draft_sha256: str
    final_version: int | None
    final_sha256: str | None
    signed: int  # the number of the signed decision
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AmendmentRow(Result):
    doc_id: str
    client: str
    name: str  # the client's
    title: str
    contract: str | None  # the contract it amends
    state: str  # draft, approved, rejected
    drafted: str  # time
    drafted_by: str
    draft_version: int
    decided: str | None  # time
    decided_by: str | None
    final_version: int | None


# --- shared ------------------------------------------------------------------


def is_amendment(session: Session, spec: TemplateSpec) -> bool:
    """Whether ``spec`` makes the policy's amendment type (so its output is a draft)."""
    policy = session.policy.admission
    return policy is not None and spec.output_type == policy.amendment_type


def _plain(value):
    """``value`` as JSON holds it (dates as YYYY-MM-DD, amounts as text), for the register."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return value


def _amendment_class(session: Session) -> str:
    return session.policy.doc_type(admission_policy(session).amendment_type).access_class


def _opinion_hash(doc_id: str, opinion: str, salt: str) -> str:
    """What the decision signs of the opinion (kept in the register, sealed
    under the amendment's class): salted, so that a reader of the client's
    decisions cannot test guesses of a short opinion against it."""
    return hashlib.sha256(canonical({"doc": doc_id, "opinion": opinion, "salt": salt})).hexdigest()


def _version(doc: dict, number) -> dict | None:
    versions = doc.get("versions", [])
    return versions[number - 1] if type(number) is int and 1 <= number <= len(versions) else None


# --- the draft ---------------------------------------------------------------


def file_draft(session: Session, spec: TemplateSpec, template_sha256: str, client: str, context: dict,
               data: bytes, file_name: str, title: str, day: str, derived: list[str]) -> tuple[str, int]:
    """File the rendered draft ``data`` (``generate`` made it from ``context``,
    with the mark) as a new document titled ``title`` + （草稿）, and its
    register entry, in one commit recorded as a filing; returns (doc id, version).
    ``title`` is the final's; the caller has checked the rights to file it."""
    access_class = session.policy.doc_type(spec.output_type).access_class
    with session.recorded("file", client=client, draft=True) as rec:
        draft_title = title + DRAFT_TITLE
        rec.update(file_name=file_name, type=spec.output_type, title=draft_title)
        name = session.directory().client(client)["name"]
        ext = session.home.extractor().extract(data, file_name)
        warnings: list[str] = []
        with session.transaction() as tx:
            slot, created = session.slot_to_write(client, access_class)
            staged = stage_document(tx, session, slot, FilingRequest(
                Path(file_name), client, spec.output_type, title=draft_title, date=day,
                derived_from=tuple(derived)), data, ext, name)
            kept = {k: v for k, v in context.items() if k != "draft"}
            register = dict(slot.meta.get(REGISTER, {}))
            register[staged.doc_id] = {
                "state": "draft", "template": spec.name, "template_sha256": template_sha256, "title": title,
                "contract": (context.get("contract") or {}).get("doc_id"), "derived_from": list(derived),
                "context": _plain(kept), "draft": {"version": staged.version, "sha256": staged.sha256},
                "drafted_by": session.user, "drafted_at": session.runtime.timestamp()}
            slot.meta[REGISTER] = register
            session.stage_slot(tx, slot, created)
            rec.objects.update(doc_id=staged.doc_id, version=staged.version)
            index_after_commit(tx, session, [staged.index], warnings)
    return staged.doc_id, staged.version


# --- approve and reject --------------------------------------------------------


def approve_amendment(session: Session, doc_id: str, opinion: str) -> AmendmentDecided:
    """Approve the draft amendment ``doc_id``: its final text filed as the
    next version and the signed decision, in one commit (see the module doc)."""
    with session.recorded("amendment-approve", doc_id=doc_id, decision="approve") as rec:
        return _decide(session, rec, doc_id, "approve", opinion)


def reject_amendment(session: Session, doc_id: str, opinion: str) -> AmendmentDecided:
    """Reject the draft amendment ``doc_id``, signed; it stays a draft."""
    with session.recorded("amendment-reject", doc_id=doc_id, decision="reject") as rec:
        return _decide(session, rec, doc_id, "reject", opinion)


def _decide(session: Session, rec, doc_id: str, decision: str, opinion: str) -> AmendmentDecided:
    policy = admission_policy(session)
    code = parse_doc_id(doc_id)
    rec.objects["client"] = code
    dept = acting_department(session, [policy.amendment_approver], f"{decision} contract amendments")
    text = check_opinion(opinion)
    rec["opinion"] = text
    access_class = _amendment_class(session)
    session.require("file", access_class)
    session.require("file", RECORD_CLASS)
    name = session.directory().client(code)["name"]
    warnings: list[str] = []
    with session.transaction() as tx:
        slots = CommitSlots(session, code)
        basic, amend = slots(RECORD_CLASS), slots(access_class)
        standing = check_decisions(session, None if slots.created(RECORD_CLASS) else basic, code=code,
                                   entry=session.directory().client(code))
        reg = _draft_entry(amend, doc_id, code, access_class, policy.amendment_type, standing)
        if reg.get("drafted_by") == session.user:
            raise AccessDenied(f"user {session.user!r} drafted amendment {doc_id}: another member of the department "
                               "decides it", hint="each change is drafted by one person and approved by another",
                               code="four-eyes")
        draft = reg["draft"]
        final = None
        if decision == "approve":
            data, file_name = _final_text(session, amend, doc_id, reg)
            final = stage_document(tx, session, amend, FilingRequest(
                Path(file_name), code, policy.amendment_type, title=reg["title"], replaces=doc_id,
                derived_from=tuple(reg.get("derived_from") or ())),
                data, session.home.extractor().extract(data, file_name), name)
        salt = session.runtime.token(8)
        fields = {"doc": doc_id, "decision": decision, "draft": dict(draft),
                  "opinion_sha256": _opinion_hash(doc_id, text, salt)}
        if final is not None:
            fields["final"] = {"version": final.version, "sha256": final.sha256}
        entry = sign_decision(session, basic, "amendment", fields, dept, rec)
        check_decisions(session, basic)  # what is committed replays
        register = dict(amend.meta.get(REGISTER, {}))
        register[doc_id] = {**reg, "state": STATES[decision], "final": fields.get("final"),
                            "decided_by": session.user, "decided_at": entry["time"], "decision": entry["n"],
                            "opinion": text, "opinion_salt": salt}
        amend.meta[REGISTER] = register
        slots.stage(tx)
        rec.objects["version"] = final.version if final else None
        if final is not None:
            index_after_commit(tx, session, [final.index], warnings)
    return AmendmentDecided(doc_id, code, decision, STATES[decision], draft["version"], draft["sha256"],
                            final.version if final else None, final.sha256 if final else None, entry["n"],
                            warnings)


def _draft_entry(slot, doc_id: str, code: str, access_class: str, amendment_type: str, standing: Standing) -> dict:
    """The register entry of the draft ``doc_id``, checked: the document is a
    draft amendment, undecided, still the version that was drafted."""
    doc = slot.documents.get(doc_id)
    if doc is None:
        raise NotFound(f"no {access_class} document {doc_id!r} for client {code!r}",
                       hint="the list of amendments shows the drafts", code="no-document", client=code)
    if doc_id in standing.amendments:
        done = standing.amendments[doc_id]
        raise ConflictError(f"amendment {doc_id} was already decided: {STATES.get(done.get('decision'), '?')} by "
                            f"{done['user']} on {done['time'][:10]}", hint="a decision is final; generate a new "
                            "draft for another change", code="already-decided")
    if standing.status in ("terminated", "rejected"):
        raise ConflictError(f"client {code!r} is {standing.status}: its amendments are not decided",
                            code="bad-status-change")
    reg = slot.meta.get(REGISTER, {}).get(doc_id)
    if (doc.get("type") != amendment_type or not isinstance(reg, dict) or reg.get("state") != "draft"
            or not isinstance(reg.get("draft"), dict)):
        raise ConflictError(f"{doc_id} is not a draft amendment", hint="a draft is made by generating the "
                            f"{amendment_type} template; the list of amendments shows the drafts",
                            code="not-a-draft")
    drafted = _version(doc, reg["draft"].get("version"))
    if drafted is None or drafted["sha256"] != reg["draft"].get("sha256"):
        raise IntegrityError(f"the draft {doc_id} is not the version on record", hint="an administrator runs "
                             "verify", code="bad-draft")
    if len(doc["versions"]) != reg["draft"]["version"]:
        raise ConflictError(f"{doc_id} has a version after its draft (v{len(doc['versions'])}): that version "
                            "is not the draft", hint="generate a new draft of the amendment", code="draft-changed")
    return reg


def _final_text(session: Session, slot, doc_id: str, reg: dict) -> tuple[bytes, str]:
    """The draft's text without the mark: its template (unchanged since) and values."""
    from archive_manager.generating import _spec

    spec, path = _spec(session, reg["template"])
    if hashlib.sha256(path.read_bytes()).hexdigest() != reg.get("template_sha256"):
        raise ConflictError(f"the template {reg['template']} changed since {doc_id} was drafted: its final text "
                            "would differ from the draft", hint="generate a new draft from the template as it is "
                            "and decide on that", code="template-changed")
    if not isinstance(reg.get("context"), dict):
        raise IntegrityError(f"the values of draft {doc_id} are missing", code="bad-draft")
    out = io.BytesIO()
    render(path, {**reg["context"], "draft": False}, out)
    drafted = slot.documents[doc_id]["versions"][reg["draft"]["version"] - 1]
    return out.getvalue(), drafted.get("original_name") or f"{spec.name}.docx"


# --- reading -----------------------------------------------------------------


def list_amendments(session: Session, client: str | None = None, pending: bool = False) -> list[AmendmentRow]:
    """The amendments drafted (every client's, or ``client``'s), oldest first;
    ``pending``: the drafts still waiting for a decision. Their state is what
    the client's signed decisions say."""
    with session.recorded("amendment-list", client=client) as rec:
        access_class = _amendment_class(session)
        session.require("read", access_class)
        held = session.classes_for("read")
        if access_class not in held:
            raise AccessDenied(f"user {session.user!r} holds no key of class {access_class!r}, where amendments "
                               "are kept", hint="an admin signs the policy again to hand out granted keys",
                               code="no-keys-yet")
        directory = session.directory()
        codes = [client] if client is not None else sorted(directory.clients)
        users = session.users()
        rows = []
        for code in codes:
            entry = directory.client(code)
            slot = session.slot(directory, entry["dossier"], access_class)
            register = slot.meta.get(REGISTER, {}) if slot is not None else {}
            if not register:
                continue
            decided = {}
            if RECORD_CLASS in held:
                basic = session.slot(directory, entry["dossier"], RECORD_CLASS)
                decided = check_decisions(session, basic, users).amendments
            for doc_id, reg in register.items():
                rows.append(_row(code, entry["name"], doc_id, reg, decided.get(doc_id), slot))
        rows = [r for r in rows if not pending or r.state == "draft"]
        rec.objects["count"] = len(rows)
        return sorted(rows, key=lambda r: (r.drafted, r.doc_id))


def _row(code: str, name: str, doc_id: str, reg: dict, decision: dict | None, slot) -> AmendmentRow:
    doc = slot.documents.get(doc_id, {})
    state = STATES.get(decision.get("decision"), "draft") if decision is not None else "draft"
    final = (decision or {}).get("final") or {}
    return AmendmentRow(doc_id, code, name, doc.get("title", reg.get("title", "")), reg.get("contract"), state,
                        reg.get("drafted_at", ""), reg.get("drafted_by", ""), reg.get("draft", {}).get("version"),
                        decision["time"] if decision else None, decision["user"] if decision else None,
                        final.get("version"))


def amendment_problems(session: Session, code: str, standing: Standing) -> list[str]:
    """For ``verify``: what is wrong with client ``code``'s amendments, given
    its checked ``standing``. Every decided amendment's draft (and an
    approval's final) must be the version, with the SHA-256, the signed
    decision names, and its register entry must say what the decision says;
    no register entry may say approved or rejected without a decision, nor
    draft with one. Checked where the session holds the amendments' class
    (else nothing is said: the decisions alone were checked by their
    signatures)."""
    policy = session.policy.admission
    if policy is None:
        return []
    access_class = session.policy.doc_type(policy.amendment_type).access_class
    if access_class not in session.classes_for("read"):
        return []
    directory = session.directory()
    slot = session.slot(directory, directory.client(code)["dossier"], access_class)
    docs = slot.documents if slot is not None else {}
    register = slot.meta.get(REGISTER, {}) if slot is not None else {}
    problems = []
    if not isinstance(register, dict):
        return [f"client {code}: the register of draft amendments is malformed"]
    for doc_id, decision in sorted(standing.amendments.items()):
        problems += _decided_problems(doc_id, decision, docs.get(doc_id), register.get(doc_id))
    for doc_id, reg in sorted(register.items()):
        state = reg.get("state") if isinstance(reg, dict) else None
        if doc_id not in standing.amendments and state != "draft":
            problems.append(f"amendment {doc_id} is marked {state!r} in the dossier, but no signed decision says so")
        if doc_id not in docs:
            problems.append(f"draft amendment {doc_id} is on record but not among the client's documents")
    return problems


def _decided_problems(doc_id: str, decision: dict, doc: dict | None, reg: dict | None) -> list[str]:
    what = f"amendment {doc_id} ({STATES.get(decision.get('decision'), '?')} by {decision['user']}, decision " \
           f"{decision['n']})"
    if doc is None:
        return [f"{what} is not among the client's documents"]
    problems = []
    for part in ("draft", "final"):
        named = decision.get(part)
        if part == "final" and decision.get("decision") != "approve":
            continue
        if not isinstance(named, dict):
            problems.append(f"{what} was approved without a final version" if part == "final"
                            else f"{what} names no draft")
            continue
        version = _version(doc, named.get("version"))
        if version is None:
            problems.append(f"{what}: its {part} version {named.get('version')} is missing")
        elif version["sha256"] != named.get("sha256"):
            problems.append(f"{what}: its {part} version {named['version']} is not the one signed (SHA-256 differs)")
    final, draft = decision.get("final"), decision.get("draft")
    if isinstance(final, dict) and isinstance(draft, dict) and not (
            type(final.get("version")) is int and type(draft.get("version")) is int
            and final["version"] > draft["version"]):
        problems.append(f"{what}: its final version does not follow its draft")
    if not isinstance(reg, dict):
        problems.append(f"{what} has no draft on record")
        return problems
    state = STATES.get(decision.get("decision"))
    if reg.get("state") != state:
        problems.append(f"{what} is marked {reg.get('state')!r} in the dossier" + (
            ": a draft that was approved without its final version" if reg.get("state") == "draft" else ""))
    if reg.get("draft") != draft:
        problems.append(f"{what}: the draft on record is not the one signed")
    signed = decision.get("opinion_sha256")
    if signed is not None and _opinion_hash(doc_id, str(reg.get("opinion")), str(reg.get("opinion_salt"))) != signed:
        problems.append(f"{what}: the opinion on record is not the one signed")
    return problems


__all__ = ["AmendmentDecided", "AmendmentRow", "REGISTER", "amendment_problems", "approve_amendment",
           "file_draft", "is_amendment", "list_amendments", "reject_amendment"]
