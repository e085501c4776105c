"""Client admission (客户准入, the policy's §二(四)): an application, reviewed
step by step by the departments ``policies/admission.toml`` names, each
opinion signed with the reviewer's own key; the last approval admits the
client.

- **start** (an applicant department): the client gets its code and a
  dossier in status ``applying``; the application (a document of class
  basic), its attachments (each in its type's class) and the signed ``apply``
  decision are one commit.
- **review** (the department of the step the application waits for):
  approve, return for more information, or reject, with an opinion filed as
  a document of the step's type (so in the step's class) and a signed
  ``review`` decision over the application's content hash and, through the
  chain, every opinion before it. The last step's approval admits the client:
  status, the credit terms the steps set, and the admission form generated
  from the application and the opinions and filed, in the same commit.
- **resubmit** (the applying department): a returned application, changed,
  goes back to the step that returned it.

Every refusal (wrong department, wrong step, a closed application) is an
audit event like every success. The client's code is its code from the
start: documents filed during the review keep their ids after admission.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from archive_manager.clients import check_profile_value
from archive_manager.decisions import Application, Standing
from archive_manager.errors import AccessDenied, ConflictError, IntegrityError, NotFound, UsageError
from archive_manager.filing import (CommitSlots, FilingRequest, StagedDocument, index_after_commit, named,
                                    stage_document, text_extraction)
from archive_manager.generation.values import money
from archive_manager.ingest import Extraction
from archive_manager.policy.admission import RECORD_CLASS
from archive_manager.results import Result
from archive_manager.session import Session
from archive_manager.standing import (APPLICATION, acting_department, admission_policy, application_hash,
                                      check_decisions, check_opinion, set_credit_fields, sign_decision)
from archive_manager.text import check_text, printable
from archive_manager.vault.directory import check_client_code
from archive_manager.vault.slot import new_slot

# what an application says beyond the profile's fields (profile.toml), with display names
APPLICATION_FIELDS = {"business_scope": "经营范围", "needs": "业务需求", "budget": "预算（元）",
                      "channels": "投放渠道"}
REQUIRED = ("legal_rep", "address", "needs", "budget")  # what the admission form cannot do without


@dataclass(frozen=True)
class Attachment:
    """A file given with an application or an opinion."""
    name: str
    data: bytes
    doc_type: str


@dataclass(frozen=True)
class ApplicationStarted(Result):
    application: str
    client: str
    name: str
    documents: list[str]  # the application document, then the attachments
    waiting: str  # the first step's id
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ReviewDone(Result):
    application: str
    client: str
    step: str
    decision: str
    opinion: str  # the opinion document's id
    state: str  # the application's state after it
    waiting: str | None  # the next step, or None
    admission_form: str | None = None  # filed when this review admitted the client
    documents: list[str] = field(default_factory=list)  # attachments given with it
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class HistoryEntry:
    n: int
    kind: str  # apply, resubmit, review
    user: str
    department: str
    time: str
    step: str | None = None
    step_name: str | None = None
    decision: str | None = None
    opinion_doc: str | None = None
    opinion_class: str | None = None
    opinion: str | None = None  # the reviewer's words, where the reader holds its class
    request: str | None = None  # a return's words to the applicant (kept with the decision: every reader sees it)
    sets: dict = field(default_factory=dict)


@dataclass(frozen=True)
class AttachmentRow:
    doc_id: str
    doc_type: str
    access_class: str
    name: str
    sha256: str
    readable: bool


@dataclass(frozen=True)
class ApplicationView(Result):
    application: str
    client: str
    name: str
    state: str  # pending, returned, rejected, admitted
    status: str  # the client's status
    applicant: str
    department: str
    started: str
    updated: str
    waiting: str | None  # step id
    waiting_name: str | None
    waiting_department: str | None
    fields: dict
    attachments: list[AttachmentRow]
    history: list[HistoryEntry]
    steps: list[dict]
    actions: list[str]  # what this user may do now: approve, return, reject, resubmit
    document: str  # the application document


@dataclass(frozen=True)
class ApplicationRow(Result):
    application: str
    client: str
    name: str
    state: str
    waiting: str | None
    waiting_name: str | None
    waiting_department: str | None
    applicant: str
    started: str
    updated: str
    age_days: int  # since it last moved


# --- shared ------------------------------------------------------------------


def _find(session: Session, app_id: str) -> tuple[str, dict]:
    directory = session.directory()
    for code, entry in directory.clients.items():
        if entry.get("application") == app_id:
            return code, entry
    raise NotFound(f"unknown application {app_id!r}", hint="the list of applications shows them",
                   code="no-application")


def _check_fields(session: Session, fields: dict[str, str], required: bool) -> tuple[dict, dict]:
    """(profile values, application values), each checked; every required one present if ``required``."""
    declared = session.policy.profile or {}
    profile, application = {}, {}
    for key, value in fields.items():
        check_text(key, f"field name {printable(key)}")
        check_text(value, f"field {key}", multiline=key in ("needs", "business_scope"))
        if key in APPLICATION_FIELDS:
            application[key] = format(money(value), "f") if key == "budget" and value.strip() else value.strip()
        elif key in declared and key not in ("credit_rating", "credit_limit", "payment_terms"):
            profile[key] = check_profile_value(declared[key], value) if value.strip() else ""
        else:
            known = [*APPLICATION_FIELDS, *(k for k in declared if k not in ("credit_rating", "credit_limit",
                                                                             "payment_terms"))]
            raise UsageError(f"an application has no field {key!r}", hint="its fields: " + ", ".join(known),
                             code="bad-application-field")
    if required:
        missing = [k for k in REQUIRED if not (profile.get(k) or application.get(k))]
        if missing:
            raise UsageError(f"the application needs: {', '.join(missing)}",
                             hint="give them; the admission form is made from them", code="missing-values")
    return profile, application


def attachable_types(session: Session) -> list[str]:
    """The document types the user may attach to an application or an
    opinion: those of a class the user files into, less the ones the
    admission files itself (the application, the opinions, the admission form)."""
    policy = admission_policy(session)
    own = {*policy.own_types, _form_type(session)}
    held = set(session.classes_for("file"))
    return [t for t, d in session.policy.types.items() if d.access_class in held and t not in own]


def _form_type(session: Session) -> str | None:
    spec = session.catalog().get("admission-form")
    return spec.output_type if spec is not None else None


@dataclass(frozen=True)
class _Checked:
    """An attachment, checked, with its class and its text (extracted before the commit)."""
    attachment: Attachment
    access_class: str
    extraction: Extraction


def _check_attachments(session: Session, attachments: list[Attachment]) -> list[_Checked]:
    allowed = set(attachable_types(session)) if attachments else set()
    out = []
    for att in attachments:
        cls = session.policy.doc_type(att.doc_type).access_class
        if att.doc_type in {*admission_policy(session).own_types, _form_type(session)}:
            raise UsageError(f"a {att.doc_type} is filed by the admission itself, not attached",
                             hint="attach the documents the application relies on (licence, qualifications, reports)",
                             code="workflow-type")
        if att.doc_type not in allowed:
            raise AccessDenied(f"user {session.user!r} holds no key of class {cls!r}, where a "
                               f"{att.doc_type} is kept, so cannot attach {printable(att.name)}",
                               hint="the department that holds the class attaches it at its step",
                               code="attach-unheld", **{"class": cls})
        if not att.data:
            raise UsageError(f"the attachment {printable(att.name)} is empty", code="empty-attachment")
        out.append(_Checked(att, cls, session.home.extractor().extract(att.data, att.name)))
    return out


def _check_signedapplication_hash(basic, app: Application) -> None:
    """The application as stored must be what its last submission signed."""
    if application_hash(basic.meta.get(APPLICATION, {})) != app.content:
        raise IntegrityError(f"application {app.id} is not what was signed: it was changed outside the archive",
                             hint="nothing is done on it; an administrator runs verify", code="bad-application")


def _application_text(session: Session, code: str, name: str, app: dict, profile: dict) -> str:
    declared = session.policy.profile or {}
    lines = [f"客户准入申请 {app['id']}", f"客户编号：{code}", f"客户名称：{name}"]
    for key, value in profile.items():
        lines.append(f"{declared[key].name if key in declared else key}：{value}")
    for key, label in APPLICATION_FIELDS.items():
        if app["fields"].get(key):
            lines.append(f"{label}：{app['fields'][key]}")
    if app["attachments"]:
        lines.append("附件：")
        for a in app["attachments"]:
            type_name = session.policy.types[a["type"]].name if a["type"] in session.policy.types else a["type"]
            lines.append(f"  {type_name} {a['doc']} {a['name']}")
    lines.append(f"申请人：{session.record.display_name or session.user}")
    return "\n".join(lines) + "\n"


def _stage_attachments(tx, session, slots: CommitSlots, code: str, name: str,
                       checked: list[_Checked]) -> tuple[list[StagedDocument], list[dict]]:
    staged, rows = [], []
    for c in checked:
        att = c.attachment
        doc = stage_document(tx, session, slots(c.access_class), FilingRequest(
            named(att.name), code, att.doc_type, title=None), att.data, c.extraction, name)
        staged.append(doc)
        rows.append({"doc": doc.doc_id, "version": doc.version, "type": att.doc_type, "name": att.name,
                     "sha256": doc.sha256})
    return staged, rows


def _next_code(codes) -> str:
    numbers = [int(c[1:]) for c in codes if c[:1] == "C" and c[1:].isdigit()]
    return f"C{max(numbers, default=0) + 1:03d}"


def _next_application(directory) -> str:
    numbers = [int(e["application"][1:]) for e in directory.clients.values()
               if str(e.get("application", ""))[1:].isdigit()]
    return f"A{max(numbers, default=0) + 1:04d}"


# --- start -------------------------------------------------------------------


def start_application(session: Session, name: str, fields: dict[str, str] | None = None,
                      attachments: list[Attachment] | None = None, code: str | None = None) -> ApplicationStarted:
    """Open an application for a prospective client: its code (``code``, or
    the next free C###), a dossier in status applying, the application and
    its attachments filed, the signed ``apply`` decision: one commit."""
    with session.recorded("admission-start", client=code) as rec:
        policy = admission_policy(session)
        dept = acting_department(session, policy.applicants, "start an application")
        # the chain it will carry must be the policy in force, not an older signed copy put back
        session.home.check_control_files(session.vault, "no application starts under it", session.trust)
        if not (name or "").strip():
            raise UsageError("the client name is empty", hint="give the client's name", code="no-name")
        check_text(name, "the client name")
        rec["name"] = name
        profile, app_fields = _check_fields(session, fields or {}, required=True)
        checked = _check_attachments(session, attachments or [])
        rt = session.runtime
        warnings: list[str] = []
        with session.transaction() as tx:
            session.store(fresh=True)
            directory = session.directory()
            code = check_client_code(code) if code else _next_code(directory.clients)
            app_id = _next_application(directory)
            rec.objects.update(client=code, application=app_id)
            dossier = rt.token(10)
            directory.add(code, dossier, name.strip(), rt.timestamp())
            directory.mark(code, status="applying", application=app_id)
            gen = session.store().current(RECORD_CLASS)
            basic = new_slot(session.vault.vault_id, dossier, RECORD_CLASS, directory.slot(dossier, RECORD_CLASS),
                             gen, rt.random_bytes(32))
            basic.meta["profile"] = {k: v for k, v in profile.items() if v}
            basic.meta["revision"] = 1
            slots = CommitSlots(session, code, directory)
            slots.add(basic, True)
            staged, rows = _stage_attachments(tx, session, slots, code, name, checked)
            app = {"id": app_id, "client": code, "name": name.strip(), "fields": app_fields,
                   "profile": basic.meta["profile"], "attachments": rows}
            text = _application_text(session, code, name, app, basic.meta["profile"])
            form = stage_document(tx, session, basic, FilingRequest(
                named(f"客户准入申请-{app_id}.txt"), code, policy.application_type,
                title=f"客户准入申请 {app_id}（{name}）"),
                text.encode("utf-8"), text_extraction(text), name)
            basic.meta[APPLICATION] = app
            signed = session.signed_policy
            sign_decision(session, basic, "apply", {
                "application": app_id, "client": code, "content": application_hash(app), "doc": form.doc_id,
                "version": form.version, "sha256": form.sha256, "steps": policy.snapshot(),
                "policy": {**signed.body(), "endorsement": signed.endorsement}}, dept, rec)
            slots.stage(tx)
            session.write_directory(tx, directory)
            rec.objects["documents"] = [form.doc_id, *(s.doc_id for s in staged)]
            index_after_commit(tx, session, [form.index, *(s.index for s in staged)], warnings)
        return ApplicationStarted(app_id, code, name.strip(), [form.doc_id, *(s.doc_id for s in staged)],
                                  policy.steps[0].id, warnings)


# --- reading -----------------------------------------------------------------


def _standing(session: Session, code: str, entry: dict, users=None) -> tuple[Standing, object]:
    directory = session.directory()
    slot = session.slot(directory, entry["dossier"], RECORD_CLASS)
    standing = check_decisions(session, slot, users, code, entry)
    if standing.application is None:
        raise NotFound(f"client {code!r} has no application", code="no-application")
    first = standing.entries[0]
    if first.get("client", code) != code or standing.application.id != entry.get("application"):
        raise IntegrityError(f"the directory's entry for {code} does not match its signed application",
                             hint="an administrator runs verify", code="bad-directory")
    return standing, slot


def _allowed(session: Session, app: Application) -> list[str]:
    step = app.waiting_step
    if step is None:
        return []
    if app.state == "returned":
        return ["resubmit"] if app.department in session.departments else []
    return ["approve", "return", "reject"] if step["department"] in session.departments else []


def _opinion_text(session: Session, code: str, opinion: dict) -> str | None:
    from archive_manager.reading import locate, version_text

    if opinion.get("class") not in session.classes_for("read"):
        return None
    try:
        found = locate(session, opinion["doc"])
        ext = version_text(session, found, int(opinion["version"]))
    except (NotFound, AccessDenied):
        return None
    return opinion_words(ext.text) if ext is not None else None


def opinion_words(document_text: str) -> str:
    """The reviewer's own words in an opinion document (after its heading lines)."""
    return document_text.split("\n\n", 1)[-1].strip()


def show_application(session: Session, app_id: str) -> ApplicationView:
    with session.recorded("admission-show", application=app_id) as rec:
        admission_policy(session)
        session.require("read", RECORD_CLASS)
        code, entry = _find(session, app_id)
        rec.objects["client"] = code
        standing, slot = _standing(session, code, entry)
        app = standing.application
        recorded = slot.meta.get(APPLICATION, {})
        _check_signedapplication_hash(slot, app)
        held = set(session.classes_for("read"))
        names = {s["id"]: s["name"] for s in app.steps}
        history = []
        for e in app.history:
            op = e.get("opinion") or {}
            history.append(HistoryEntry(
                e["n"], e["kind"], e["user"], e["department"], e["time"], e.get("step"), names.get(e.get("step")),
                e.get("decision"), op.get("doc"), op.get("class"),
                _opinion_text(session, code, op) if op else None, e.get("request"), dict(e.get("sets") or {})))
        attachments = [AttachmentRow(a["doc"], a["type"], session.policy.types[a["type"]].access_class
                                     if a["type"] in session.policy.types else "?", a["name"], a["sha256"],
                                     session.policy.types.get(a["type"]) is not None and
                                     session.policy.types[a["type"]].access_class in held)
                       for a in recorded.get("attachments", [])]
        for e in app.history:  # attachments given with opinions
            for a in e.get("attachments", []):
                cls = session.policy.types[a["type"]].access_class if a["type"] in session.policy.types else "?"
                attachments.append(AttachmentRow(a["doc"], a["type"], cls, a["name"], a["sha256"], cls in held))
        step = app.waiting_step
        return ApplicationView(
            app.id, code, recorded.get("name", entry["name"]), app.state, standing.status, app.applicant,
            app.department, app.started,
            app.updated, step["id"] if step else None, step["name"] if step else None,
            step["department"] if step and app.state == "pending" else (app.department if step else None),
            {**recorded.get("profile", {}), **recorded.get("fields", {})}, attachments, history, app.steps,
            _allowed(session, app), app.doc)


def list_applications(session: Session, mine: bool = False, closed: bool = False) -> list[ApplicationRow]:
    """Applications, oldest first: open ones (``closed``: also admitted and
    rejected ones); ``mine``: those waiting for one of the user's departments."""
    with session.recorded("admission-list"):
        admission_policy(session)
        session.require("read", RECORD_CLASS)
        directory = session.directory()
        users = session.users()
        now = session.runtime.now()
        rows = []
        for code, entry in sorted(directory.clients.items()):
            if "application" not in entry:
                continue
            try:
                standing, _ = _standing(session, code, entry, users)
            except (IntegrityError, NotFound):
                continue  # verify reports it; one damaged record does not take the queue down
            app = standing.application
            step = app.waiting_step
            waiting_dept = (step["department"] if app.state == "pending" else app.department) if step else None
            if mine and waiting_dept not in session.departments:
                continue
            if not closed and step is None:
                continue
            updated = datetime.fromisoformat(app.updated.replace("Z", "+00:00"))
            rows.append(ApplicationRow(app.id, code, entry["name"], app.state, step["id"] if step else None,
                                       step["name"] if step else None, waiting_dept, app.applicant, app.started,
                                       app.updated, max(0, (now - updated).days)))
        return sorted(rows, key=lambda r: (r.updated, r.application))


# --- review and resubmit -----------------------------------------------------


def _check_sets(session: Session, step: dict, decision: str, sets: dict[str, str]) -> dict[str, str]:
    wanted = list(step.get("sets", []))
    if decision != "approve" or not wanted:
        if sets:
            raise UsageError(f"step {step['id']} sets nothing" if not wanted else "credit terms go with an approval",
                             hint=f"step {step['id']} approves with: {', '.join(wanted)}" if wanted
                             else "leave the values out", code="bad-sets")
        return {}
    aliases = {"rating": "credit_rating", "limit": "credit_limit", "terms": "payment_terms"}
    sets = {aliases.get(k, k): v for k, v in sets.items()}
    unknown = sorted(set(sets) - set(wanted))
    if unknown:
        raise UsageError(f"step {step['id']} does not set {', '.join(unknown)}",
                         hint=f"it sets: {', '.join(wanted)}", code="bad-sets")
    missing = [k for k in wanted if not (sets.get(k) or "").strip()]
    if missing:
        raise UsageError(f"approving step {step['id']} needs: {', '.join(missing)}",
                         hint="e.g. rating=A credit_limit=500000", code="missing-sets")
    declared = session.policy.profile or {}
    return {k: check_profile_value(declared[k], v) if k in declared else check_text(v, k) for k, v in sets.items()}


DECISION_NAMES = {"approve": "同意", "return": "退回补充材料", "reject": "不同意"}


def review_application(session: Session, app_id: str, decision: str, opinion: str,
                       sets: dict[str, str] | None = None, attachments: list[Attachment] | None = None) -> ReviewDone:
    """Act on the step ``app_id`` waits for (see the module doc)."""
    with session.recorded("admission-review", application=app_id, decision=decision) as rec:
        admission_policy(session)
        if decision not in DECISION_NAMES:
            raise UsageError(f"unknown decision {decision!r}", hint="approve, return or reject", code="bad-decision")
        code, entry = _find(session, app_id)
        rec.objects["client"] = code
        standing, _ = _standing(session, code, entry)
        app = standing.application
        step = app.waiting_step
        if step is None or app.state != "pending":
            raise ConflictError(f"application {app_id} is {app.state}: no step waits for a review",
                                hint="a returned application waits for the applicant to submit it again"
                                if app.state == "returned" else "it is closed", code="not-pending",
                                state=app.state)
        rec.objects["step"] = step["id"]
        if step["department"] not in session.departments:
            raise AccessDenied(f"application {app_id} waits for step {step['id']} ({step['name']}), the work of "
                               f"department {step['department']}; user {session.user!r} is in "
                               f"{', '.join(session.departments) or 'no department'}",
                               hint=f"a member of {session.policy.departments.get(step['department'], step['department'])} "
                                    "reviews it", code="wrong-department", departments=[step["department"]])
        if session.user == app.applicant or any(o.user == session.user for o in app.opinions if o.step != step["id"]):
            raise AccessDenied(f"user {session.user!r} applied for or reviewed another step of application {app_id}: "
                               "each step is signed by someone else", hint="another member of the department "
                               "reviews it", code="four-eyes")
        text = check_opinion(opinion)
        rec["opinion"] = text
        values = _check_sets(session, step, decision, dict(sets or {}))
        checked = _check_attachments(session, attachments or [])
        opinion_type = step["opinion_type"]
        opinion_class = session.policy.doc_type(opinion_type).access_class
        warnings: list[str] = []
        with session.transaction() as tx:
            basic, created = session.slot_to_write(code, RECORD_CLASS)
            now_standing = check_decisions(session, basic)  # under the lock: nobody acted meanwhile
            if len(now_standing.entries) != len(standing.entries):
                raise ConflictError(f"application {app_id} changed while you were reviewing it",
                                    hint="look at it again", code="changed")
            _check_signedapplication_hash(basic, app)
            slots = CommitSlots(session, code)
            slots.add(basic, created)
            staged, rows = _stage_attachments(tx, session, slots, code, entry["name"], checked)
            body = _opinion_document(session, app, step, decision, text, values, rows)
            doc = stage_document(tx, session, slots(opinion_class), FilingRequest(
                named(f"{step['name']}-{app_id}.txt"), code, opinion_type,
                title=f"{step['name']}意见 {app_id}（{DECISION_NAMES[decision]}）"), body.encode("utf-8"),
                text_extraction(body), entry["name"])
            fields = {"application": app_id, "step": step["id"], "decision": decision, "content": app.content,
                      "opinion": {"doc": doc.doc_id, "version": doc.version, "sha256": doc.sha256,
                                  "class": opinion_class}}
            if values:
                fields["sets"] = values
            if decision == "return":
                fields["request"] = text  # what the applicant is asked for: they may not hold the opinion's class
            if rows:
                fields["attachments"] = rows
            sign_decision(session, basic, "review", fields, step["department"], rec)
            after = check_decisions(session, basic)
            form = None
            if after.status == "admitted":
                set_credit_fields(basic, {"credit_rating": after.credit.rating, "credit_limit": after.credit.limit,
                                          "payment_terms": after.credit.terms})
                form = _stage_admission_form(tx, session, basic, code, entry["name"], after,
                                             _form_reviews(session, code, after, slots, text))
            state_mark = {"admitted": "admitted", "rejected": "rejected"}.get(after.application.state)
            slots.stage(tx)
            if state_mark:
                directory = session.directory()
                directory.mark(code, status=state_mark)
                session.write_directory(tx, directory)
            rec.objects.update(opinion=doc.doc_id, state=after.application.state,
                               **({"admission_form": form.doc_id} if form else {}))
            if values:
                rec.objects.update(values)
            entries = [s.index for s in staged] + [doc.index] + ([form.index] if form else [])
            index_after_commit(tx, session, entries, warnings)
        nxt = after.application.waiting_step
        return ReviewDone(app_id, code, step["id"], decision, doc.doc_id, after.application.state,
                          nxt["id"] if nxt else None, form.doc_id if form else None,
                          [s.doc_id for s in staged], warnings)


def _opinion_document(session, app: Application, step: dict, decision: str, text: str, values: dict,
                      rows: list[dict]) -> str:
    declared = session.policy.profile or {}
    lines = [f"{step['name']}意见", f"申请：{app.id}", f"审查部门：{session.policy.departments.get(step['department'])}",
             f"审查人：{session.record.display_name or session.user}", f"结论：{DECISION_NAMES[decision]}"]
    for key, value in values.items():
        lines.append(f"{declared[key].name if key in declared else key}：{value}")
    for a in rows:
        lines.append(f"附件：{a['doc']} {a['name']}")
    lines += ["", text]
    return "\n".join(lines) + "\n"


def _form_reviews(session: Session, code: str, standing: Standing, slots: CommitSlots,
                  last_words: str) -> list[dict]:
    """Each step's approving opinion as the admission form lists it. The
    form is kept in class basic: an opinion kept in another class is named
    there, not quoted (its words stay with the holders of its class); the
    last step's words are this review's."""
    from archive_manager.generation.values import chinese_date
    from archive_manager.reading import Located, version_text

    users = session.users().users
    app = standing.application
    rows = []
    for step in app.steps:
        op = next((o for o in reversed(app.opinions) if o.step == step["id"] and o.decision == "approve"), None)
        if op is None:
            continue
        doc, cls = op.opinion["doc"], op.opinion["class"]
        if op is app.opinions[-1]:
            words = last_words
        elif cls == RECORD_CLASS:
            basic = slots(RECORD_CLASS)
            ext = version_text(session, Located(code, basic, doc, basic.documents[doc]), int(op.opinion["version"]))
            words = opinion_words(ext.text) if ext is not None else ""
        else:
            kind = session.policy.types.get(step["opinion_type"])
            where = session.policy.classes[cls].name if cls in session.policy.classes else cls
            words = f"见{kind.name if kind else '意见书'} {doc}（保存在“{where}”类别中）"
        user = users.get(op.user)
        rows.append({"step": f"{step['name']}（{session.policy.departments.get(step['department'], step['department'])}）",
                     "decision": DECISION_NAMES[op.decision], "opinion": words,
                     "by": (user.display_name or user.name) if user else op.user,
                     "date": chinese_date(op.time[:10])})
    return rows


def _stage_admission_form(tx, session: Session, basic, code: str, name: str, standing: Standing,
                          reviews: list[dict]):
    """The admission form, generated from the application and the opinions, staged into the basic slot."""
    from archive_manager.generating import render_form

    app = basic.meta[APPLICATION]  # as signed (checked above): not the profile or directory as edited since
    fields = app.get("fields", {})
    profile = {**app.get("profile", {}), "name": app.get("name", name), "code": code}
    applicant = session.users().users.get(standing.application.applicant)
    given = {"business": {"need": fields.get("needs", ""), "channels": fields.get("channels")},
             "budget": fields.get("budget"),
             "credit": {"rating": standing.credit.rating, "limit": standing.credit.limit,
                        "terms": standing.credit.terms},
             "reviews": reviews}
    given = {k: {a: b for a, b in v.items() if b is not None} if isinstance(v, dict) else v
             for k, v in given.items() if v is not None}
    data, title, output_type = render_form(session, "admission-form", profile, given, applicant,
                                           standing.application.department)
    return stage_document(tx, session, basic, FilingRequest(
        named(f"客户准入申请表-{code}.docx"), code, output_type, title=f"{title}（{name}）",
        derived_from=(app["id"],)), data, session.home.extractor().extract(data, "form.docx"), name)


def resubmit_application(session: Session, app_id: str, fields: dict[str, str] | None = None,
                         attachments: list[Attachment] | None = None, note: str | None = None) -> ReviewDone:
    """Submit a returned application again, changed by ``fields`` and
    ``attachments``; it goes back to the step that returned it."""
    with session.recorded("admission-resubmit", application=app_id) as rec:
        policy = admission_policy(session)
        code, entry = _find(session, app_id)
        rec.objects["client"] = code
        standing, _ = _standing(session, code, entry)
        app = standing.application
        if app.state != "returned":
            raise ConflictError(f"application {app_id} is {app.state}: only a returned application is submitted "
                                "again", code="not-returned", state=app.state)
        acting_department(session, [app.department], "submit this application again")
        profile_changes, app_changes = _check_fields(session, fields or {}, required=False)
        checked = _check_attachments(session, attachments or [])
        if not profile_changes and not app_changes and not checked:
            raise UsageError("nothing was changed or added", hint="give the missing information or attachments",
                             code="nothing-to-change")
        warnings: list[str] = []
        with session.transaction() as tx:
            basic, created = session.slot_to_write(code, RECORD_CLASS)
            if len(check_decisions(session, basic).entries) != len(standing.entries):
                raise ConflictError(f"application {app_id} changed meanwhile", code="changed")
            _check_signedapplication_hash(basic, app)
            slots = CommitSlots(session, code)
            slots.add(basic, created)
            staged, rows = _stage_attachments(tx, session, slots, code, entry["name"], checked)
            recorded = dict(basic.meta[APPLICATION])
            profile = {k: v for k, v in {**recorded.get("profile", {}), **profile_changes}.items() if v}
            recorded.update(profile=profile, fields={k: v for k, v in {**recorded["fields"], **app_changes}.items()
                                                     if v},
                            attachments=[*recorded.get("attachments", []), *rows])
            basic.meta["profile"] = {**basic.meta.get("profile", {}), **profile}
            text = _application_text(session, code, entry["name"], recorded, profile)
            if note:
                text += "\n补充说明：" + check_opinion(note) + "\n"
            form = stage_document(tx, session, basic, FilingRequest(
                named(f"客户准入申请-{app_id}.txt"), code, policy.application_type, replaces=app.doc),
                text.encode("utf-8"), text_extraction(text), entry["name"])
            basic.meta[APPLICATION] = recorded
            step = app.waiting_step
            sign_decision(session, basic, "resubmit", {
                "application": app_id, "content": application_hash(recorded), "doc": form.doc_id,
                "version": form.version,
                "sha256": form.sha256, "step": step["id"]}, app.department, rec)
            slots.stage(tx)
            rec.objects["step"] = step["id"]
            index_after_commit(tx, session, [s.index for s in staged] + [form.index], warnings)
        return ReviewDone(app_id, code, step["id"], "resubmit", form.doc_id, "pending", step["id"], None,
                          [s.doc_id for s in staged], warnings)


__all__ = ["APPLICATION_FIELDS", "ApplicationRow", "ApplicationStarted", "ApplicationView", "attachable_types",
           "Attachment", "AttachmentRow", "HistoryEntry", "list_applications", "resubmit_application",
           "review_application", "ReviewDone", "show_application", "start_application"]
