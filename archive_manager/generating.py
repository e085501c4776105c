"""``archive generate``: paperwork from a template, the dossier's data and the
values given, written to a file and filed back into the client's dossier.

Data by source (templates/catalog.toml): ``profile`` the client's basic
information (needs read on ``basic``), ``ledger`` the receivables (read on
``credit``), ``contract`` a contract's metadata (read on ``contract``),
``given`` ``--set``/``--data``, ``system`` the letterhead (``policies/company.toml``
as signed with the policy), today and a document number. Only ``given`` values may be set,
and a profile value the client's profile lacks: a value the archive derives
(a total, the dunning level, the contract's data, a name) cannot be overridden.
Generating needs the ``generate`` action; filing the result needs ``file`` on
its type's class. The event names the template and the SHA-256 of its file.

What the paperwork states, it takes from the record: a contract's number
from its metadata (for a user who may read contracts; otherwise, or where the
contract has none, its document id, marked as such); the dunning letters a
letter refers to from the letters filed in the dossier (``earlier_letters``);
the applicant from the signed-in user's record (display name, else the login
name) and the policy's names of their departments.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Collection
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from archive_manager.errors import ConflictError, NotFound, PolicyError, UsageError
from archive_manager.vault.signed_policy import SYNC_HINT
from archive_manager.filing import FilingPipeline, FilingRequest
from archive_manager.generation.catalog import TemplateSpec, Variable, check_types, lookup
from archive_manager.generation.ledger import DunningPolicy, Invoice, Letter
from archive_manager.generation.render import render
from archive_manager.generation.values import check_given
from archive_manager.reading import locate
from archive_manager.receivables import LEDGER_CLASS, _change, read_ledger
from archive_manager.session import Session
from archive_manager.results import Result

SOURCE_CLASSES = {"profile": "basic", "ledger": LEDGER_CLASS, "contract": "contract"}
DEADLINE_DAYS = {1: 15, 2: 10, 3: 5}  # a new payment deadline, shorter as the tone escalates
DUNNING = "dunning-letter"
DERIVED = {"profile": "comes from the client's profile", "ledger": "is computed from the ledger",
           "contract": "comes from the contract", "system": "is filled in by the archive"}
NOT_A_NUMBER = "（内部文档号）"  # after a document id printed where a contract number is not known


@dataclass(frozen=True)
class GeneratedDocument(Result):
    """Paperwork written to ``path`` from ``template`` (its file's SHA-256),
    filed back as ``doc_id`` version ``version`` (None: not filed); ``level``
    a dunning letter's; ``derived_from`` what it was made from (documents,
    ``invoice:<number>``)."""
    template: str
    template_sha256: str
    client: str
    path: str
    doc_id: str | None
    version: int | None
    level: int | None
    derived_from: list[str]


@dataclass(frozen=True)
class OverdueLetter:
    """One overdue client of ``generate --overdue``: the letter written
    (``letter``), or why none was (``skipped``) and the level that was due."""
    client: str
    level: int | None
    letter: GeneratedDocument | None = None
    skipped: str | None = None

    def to_dict(self) -> dict:
        if self.letter is not None:
            return {**self.letter.to_dict(), "skipped": None}
        return {"template": DUNNING, "client": self.client, "path": None, "doc_id": None, "version": None,
                "level": self.level, "skipped": self.skipped}


def _unused(path: Path) -> Path:
    """``path``, or ``name-2.docx``, ``name-3.docx``... where ``path`` exists:
    a default name never replaces an earlier letter of the same day."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def _merge(into: dict, extra: dict) -> dict:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value
    return into


def _check_given(spec: TemplateSpec, given: dict, context: dict, client: str, prefix: str = "") -> None:
    """Refuse a value the catalog does not declare ``given`` (``context``
    holds what the archive derived): a profile value may fill a gap in the
    client's profile, which has no command to complete it (or repeat what it
    holds), never replace one."""
    for key, value in given.items():
        path = prefix + key
        var = spec.variable(path)
        if var is None:
            inside = spec.inside(path)
            if inside and isinstance(value, dict):
                _check_given(spec, value, context, client, path + ".")
                continue
            var = next((v for v in inside if v.source != "given"), None)  # e.g. --set client=...
            if var is None:
                given_names = [v.name for v in spec.variables if v.source == "given"]
                raise UsageError(f"template {spec.name} has no value {path!r}",
                                 hint=f"values {spec.name} takes: {', '.join(given_names)}" if given_names
                                 else f"{spec.name} takes no values: the archive derives them all")
        elif var.source == "given" or (var.source == "profile" and lookup(context, var.name) in (None, "", value)):
            continue
        raise _refuse_derived(path, var, client)


def _refuse_derived(path: str, var: Variable, client: str) -> UsageError:
    message = f"{path!r} {DERIVED[var.source]} and cannot be set"
    if var.source == "ledger":
        return UsageError(message, hint="record invoices and payments in the ledger; choose the dunning level",
                          code="derived-ledger")
    if var.source == "contract":
        return UsageError(message, hint="name the contract the paperwork is for", code="derived-contract",
                          client=client)
    if var.source == "profile":
        return UsageError(message, hint="the client's profile holds it; only a value it lacks can be given",
                          code="derived-profile", client=client)
    if var.name.startswith("company."):
        return UsageError(message, hint="the letterhead is signed with the policy: an administrator sets it",
                          code="derived-letterhead")
    return UsageError(message, hint="the date, the document number and the applicant are the archive's own")


def _refuse_missing(spec: TemplateSpec, missing: list[str], client: str, contract: str | None) -> UsageError:
    message = f"template {spec.name} needs values for: {', '.join(missing)}"
    if contract is not None or not any(spec.variable(m).source == "contract" for m in missing):
        return UsageError(message, hint="give the missing values; the letterhead (company.*) is signed with the "
                                        "policy: an administrator sets it", code="missing-values")
    if all(spec.variable(m).source == "contract" for m in missing):
        return UsageError(message, hint="name the contract the paperwork is for", code="missing-contract",
                          client=client)
    return UsageError(message, hint="name the contract the paperwork is for, and give the other values",
                      code="missing-contract-and-values", client=client)


def _naming(exc: UsageError, missing: list[str]) -> UsageError:
    """``exc`` with the names of the missing values in its data (``missing``):
    an interface offers inputs for them, or the letterhead's page for ``company.*``."""
    exc.data.setdefault("missing", list(missing))
    return exc


def _spec(session: Session, name: str) -> tuple[TemplateSpec, Path]:
    catalog = session.catalog()
    if name not in catalog:
        raise NotFound(f"no template {name!r}", hint="the templates are: " + ", ".join(catalog))
    spec = catalog[name]
    path = session.settings.templates_dir / spec.file
    if not path.is_file():
        raise UsageError(f"template file {spec.file} is missing", hint="an administrator checks the templates",
                         code="template-missing")
    if not session.signed_policy.template_ok(spec.file, hashlib.sha256(path.read_bytes()).hexdigest()):
        raise PolicyError(f"templates/{spec.file} is not the template an administrator signed: nothing is rendered "
                          "from it", hint=SYNC_HINT, code="policy-unsigned")
    return spec, path


def _profile(session: Session, client: str) -> dict:
    directory = session.directory()
    entry = directory.client(client)
    slot = session.slot(directory, entry["dossier"], SOURCE_CLASSES["profile"])
    profile = dict(slot.meta.get("profile", {})) if slot else {}
    return {**profile, "name": entry["name"], "code": client}


def _contract(session: Session, client: str, doc_id: str | None) -> tuple[dict, list[str]]:
    if doc_id is None:
        return {}, []
    found = locate(session, doc_id)
    if found.client != client or found.slot.access_class != SOURCE_CLASSES["contract"]:
        raise UsageError(f"{doc_id} is not a contract of client {client}")
    latest = found.doc["versions"][-1]
    number = contract_number(found.doc) or doc_id + NOT_A_NUMBER
    return {"title": found.doc["title"], "number": number, "date": latest["date"], "doc_id": doc_id}, [doc_id]


def contract_number(doc: dict) -> str | None:
    """A contract's number from its metadata: the ``number`` field, else a tag
    that is one (an inbox sidecar's ``tags = ["HT-2026-088"]``); None if it has none."""
    number = doc.get("number") or doc["versions"][-1].get("number")
    if number:
        return number
    return next((t for t in doc.get("tags", []) if t.upper().startswith("HT-")), None)


def _contract_numbers(session: Session, client: str, doc_ids: set[str]) -> dict[str, str]:
    """The numbers of the contracts ``doc_ids`` of ``client`` the user may read."""
    if not doc_ids or SOURCE_CLASSES["contract"] not in session.classes_for("read"):
        return {}
    directory = session.directory()
    slot = session.slot(directory, directory.client(client)["dossier"], SOURCE_CLASSES["contract"])
    docs = slot.documents if slot is not None else {}
    numbers = {d: contract_number(docs[d]) for d in sorted(doc_ids) if d in docs}
    return {d: n for d, n in numbers.items() if n}


def earlier_letters(session: Session, client: str, invoices: list[Invoice], today: date) -> list[tuple[date, str]]:
    """The dunning letters filed in ``client``'s dossier (date, document id),
    oldest first, that a letter about ``invoices`` may refer to: a letter made
    by ``generate`` when it named one of them; a letter filed by hand (it names
    no invoice) when dated after the first of them fell due. A letter written
    but not filed (``--no-file``) is not on record."""
    directory = session.directory()
    slot = session.slot(directory, directory.client(client)["dossier"], LEDGER_CLASS)
    numbers, first_due = {i.number for i in invoices}, min(i.due for i in invoices)
    found = []
    for doc_id, doc in (slot.documents.items() if slot is not None else ()):
        latest = doc["versions"][-1]
        if latest.get("type", doc.get("type")) != DUNNING:
            continue
        day = date.fromisoformat(latest["date"])
        named = {d.split(":", 1)[1] for d in latest.get("derived_from", []) if d.startswith("invoice:")}
        if day <= today and (named & numbers if named else day > first_due):
            found.append((day, doc_id))
    return sorted(found)


def _dunning(session: Session, client: str, level: int | None, today: date) -> tuple[dict, list[str], int]:
    ledger = read_ledger(session, client)
    overdue = ledger.overdue(today)
    if not overdue:
        raise UsageError(f"client {client} has nothing overdue", hint="the ledger's overdue list shows what is",
                         code="nothing-overdue")
    level = level or ledger.level_due(today, _policy(session))
    numbers = _contract_numbers(session, client, {i.contract for i in overdue if i.contract})
    rows = [{"number": i.number, "contract": numbers.get(i.contract) or (i.contract + NOT_A_NUMBER if i.contract
                                                                          else ""),
             "due": i.due, "amount": i.outstanding, "days_overdue": i.days_overdue(today)} for i in overdue]
    earlier = earlier_letters(session, client, overdue, today)
    values = {"invoices": rows, "total": ledger.total_overdue(today), "level": level,
              "deadline": today + timedelta(days=DEADLINE_DAYS[level]),
              "earlier_letters": [{"date": day, "doc_id": doc_id} for day, doc_id in earlier]}
    links = [f"invoice:{i.number}" for i in overdue] + sorted(numbers) + [doc_id for _, doc_id in earlier]
    return values, links, level


def _applicant(session: Session, spec: TemplateSpec) -> dict | str:
    """Who applies: the user's display name (else the login name) and the
    names of their departments; a template that declares ``applicant`` as one
    text (made before issue 15) gets the name alone."""
    name = session.record.display_name or session.user
    departments = "、".join(session.policy.departments.get(d, d) for d in session.departments)
    if spec.variable("applicant") is not None:
        return name
    return {"name": name, "department": departments}


def _draft_mark(session: Session, spec: TemplateSpec) -> bool:
    """Whether ``spec`` makes the policy's contract amendment, which is filed
    as a draft and printed as one (its ``draft`` variable) until approved;
    a template without the mark is refused: its draft would read as final."""
    from archive_manager.amendments import is_amendment

    if not is_amendment(session, spec):
        return False
    if spec.variable("draft") is None:
        raise UsageError(f"template {spec.name} has no draft mark: a draft amendment would read as final",
                         hint="an administrator adds {% if draft %}（草稿）{% endif %} to its title and declares "
                              "\"draft\" in catalog.toml (as the shipped templates do), then signs the policy",
                         code="no-draft-mark")
    return True


def _policy(session: Session) -> DunningPolicy:
    s = session.settings
    return DunningPolicy(s.dunning_thresholds, s.dunning_gap_days)


def generate(session: Session, name: str, client: str, given: dict | None = None, out: Path | None = None,
             file_back: bool = True, contract: str | None = None, level: int | None = None) -> GeneratedDocument:
    """Render ``name`` for ``client`` into ``out`` (default: a name in the
    current directory) and file it into the dossier unless ``file_back`` is off.
    The policy's contract amendment is a draft: printed with ``draft`` set and
    filed with the values it was made from, for approval to render the final
    text (:mod:`archive_manager.amendments`)."""
    if level is not None and level not in DEADLINE_DAYS:
        raise UsageError("the dunning level must be 1, 2 or 3")
    with session.recorded("generate", client=client) as rec:
        session.require("generate")
        check_given(given or {})
        spec, path = _spec(session, name)
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        rec.objects.update(template=name, template_sha256=sha)
        sources = {v.source for v in spec.variables}
        for source in sorted(sources & set(SOURCE_CLASSES)):
            session.require("read", SOURCE_CLASSES[source])
        if file_back:
            session.require("file", session.policy.doc_type(spec.output_type).access_class)
        today = session.runtime.now().date()
        context: dict = {"today": today, "company": dict(session.policy.company),
                         "applicant": _applicant(session, spec)}
        number = f"{client}-{today:%Y%m%d}-{session.runtime.token(3).upper()}"
        for key in ("form_no", "amendment_no", "letter_no"):
            context[key] = number
        derived: list[str] = []
        if "profile" in sources:
            context["client"] = _profile(session, client)
        else:
            session.directory().client(client)  # NotFound for an unknown client
        if "contract" in sources:
            context["contract"], links = _contract(session, client, contract)
            derived += links
        dunning_level = None
        if "ledger" in sources:
            values, links, dunning_level = _dunning(session, client, level, today)
            context.update(values)
            derived += links
        _check_given(spec, given or {}, context, client)
        check_types(spec, given or {})
        _merge(context, given or {})
        draft = _draft_mark(session, spec)
        if draft:
            context["draft"] = True  # an amendment is a draft until approved (archive_manager.amendments)
        spec.fill_optional(context)
        missing = spec.missing(context)
        if missing:
            raise _naming(_refuse_missing(spec, missing, client, contract), missing)
        out = Path(out) if out is not None else _unused(Path.cwd() / f"{name}-{client}-{today.isoformat()}.docx")
        rec["file_name"] = out.name
        tmp = out.with_name(f".{out.name}.{session.runtime.token(4)}.part")
        rendered = io.BytesIO()
        render(path, context, rendered)
        try:
            tmp.write_bytes(rendered.getvalue())
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
        doc_id = version = None
        title = (f"{spec.title}（{context.get('client', {}).get('name', client)}）" if "profile" in sources
                 else spec.title)
        if file_back and draft:
            from archive_manager.amendments import file_draft

            doc_id, version = file_draft(session, spec, sha, client, context, rendered.getvalue(), out.name, title,
                                         today.isoformat(), derived)
            rec.objects.update(doc_id=doc_id, draft=True)
        elif file_back:
            filed = FilingPipeline(session).run(FilingRequest(
                out, client, spec.output_type, title=title, date=today.isoformat(), derived_from=tuple(derived)))
            doc_id, version = filed.doc_id, filed.version
            rec.objects.update(doc_id=filed.doc_id)
        if dunning_level is not None and file_back:
            numbers = tuple(d.split(":", 1)[1] for d in derived if d.startswith("invoice:"))
            _change(session, client, lambda led: led.letters.append(Letter(dunning_level, today, numbers)))
    return GeneratedDocument(name, sha, client, str(out), doc_id, version, dunning_level, derived)


def render_form(session: Session, name: str, profile: dict, given: dict, applicant, department: str
                ) -> tuple[bytes, str, str]:
    """Render template ``name`` in memory for an operation that files it in
    its own commit (admission files the admission form): the client's
    ``profile`` (with name and code), ``given`` values, and the applicant
    (a user record) and their department. Returns (bytes, title, output type)."""
    spec, path = _spec(session, name)
    today = session.runtime.now().date()
    who = (applicant.display_name or applicant.name) if applicant is not None else session.user
    context: dict = {"today": today, "company": dict(session.policy.company),
                     "applicant": who if spec.variable("applicant") is not None else
                     {"name": who, "department": session.policy.departments.get(department, department)},
                     "client": dict(profile)}
    number = f"{profile.get('code')}-{today:%Y%m%d}-{session.runtime.token(3).upper()}"
    for key in ("form_no", "amendment_no", "letter_no"):
        context[key] = number
    _merge(context, {k: v for k, v in given.items() if v is not None})
    spec.fill_optional(context)
    missing = spec.missing(context)
    if missing:
        raise _refuse_missing(spec, missing, str(profile.get("code")), None)
    out = io.BytesIO()
    render(path, context, out)
    return out.getvalue(), spec.title, spec.output_type


def overdue_clients(session: Session, min_days: int = 1) -> list[str]:
    """Clients with an invoice at least ``min_days`` overdue today."""
    today = session.runtime.now().date()
    directory = session.directory()
    out = []
    for code in sorted(directory.clients):
        overdue = read_ledger(session, code).overdue(today)
        if overdue and max(i.days_overdue(today) for i in overdue) >= min_days:
            out.append(code)
    return out


@dataclass(frozen=True)
class PlannedLetter(Result):
    """One overdue client as the batch would treat it now: the letter it
    would send (``level``, the overdue ``invoices``, their ``total``
    outstanding in yuan), or why it would send none (``skipped``)."""
    client: str
    level: int
    invoices: list[str]
    total: Decimal
    skipped: str | None = None
    last: Letter | None = None  # the recent letter that makes it skip

    @property
    def key(self) -> str:
        """The letter as one text (client, level, invoices, total): a run
        given the keys of a preview sends those letters or none."""
        return json.dumps([self.client, self.level, self.invoices, f"{self.total:.2f}"], ensure_ascii=False)

    def to_dict(self) -> dict:
        last = self.last
        return {**asdict(self), "total": f"{self.total:.2f}",
                "last": None if last is None else {"level": last.level, "sent_on": last.sent_on.isoformat()}}


def _plan(session: Session, level: int | None, min_days: int) -> list[PlannedLetter]:
    today, policy = session.runtime.now().date(), _policy(session)
    plan = []
    for code in overdue_clients(session, min_days):
        ledger = read_ledger(session, code)
        due = level or ledger.level_due(today, policy)
        last = ledger.recent_letter(today, due, policy)
        skipped = None if last is None else (f"a level {last.level} letter was sent on {last.sent_on}, "
                                             f"less than {policy.min_gap_days} days ago (min_gap_days)")
        plan.append(PlannedLetter(code, due, [i.number for i in ledger.overdue(today)], ledger.total_overdue(today),
                                  skipped, last))
    return plan


def plan_overdue(session: Session, level: int | None = None, min_days: int = 1) -> list[PlannedLetter]:
    """The letters :func:`generate_overdue` would send now, and the clients
    it would skip with why (the same rule: it runs this plan), without
    writing anything. Recorded as a read of the ledger."""
    if level is not None and level not in DEADLINE_DAYS:
        raise UsageError("the dunning level must be 1, 2 or 3")
    with session.recorded("ledger-list"):
        session.require("read", LEDGER_CLASS)
        session.class_key(LEDGER_CLASS)
        return _plan(session, level, min_days)


def generate_overdue(session: Session, folder: Path, given: dict | None = None, file_back: bool = True,
                     level: int | None = None, min_days: int = 1,
                     expected: Collection[str] | None = None) -> list[OverdueLetter]:
    """A dunning letter for each client at least ``min_days`` overdue, written
    to ``folder/dunning-letter-<client>.docx``. A client sent a letter at the
    level due (or above) less than ``[dunning] min_gap_days`` ago is skipped
    (its row says why), so a second run does not send the same letter again;
    an existing file is never replaced: then nothing is written. With
    ``expected`` (the keys of the letters a preview showed, :func:`plan_overdue`),
    a plan that differs from it is refused before anything is written."""
    if level is not None and level not in DEADLINE_DAYS:
        raise UsageError("the dunning level must be 1, 2 or 3")
    plan = _plan(session, level, min_days)
    if expected is not None and sorted(p.key for p in plan if p.skipped is None) != sorted(expected):
        with session.recorded("generate", template=DUNNING) as rec:  # a tampered or stale confirmation: on record
            rec.update(expected=sorted(expected)[:50])
            raise ConflictError("the letters due are not the ones the preview showed; no letter was written",
                                hint="look at the preview again: the ledger changed since",
                                code="overdue-plan-changed")
    rows = {p.client: OverdueLetter(p.client, p.level, skipped=p.skipped) for p in plan if p.skipped is not None}
    paths = {p.client: Path(folder) / f"{DUNNING}-{p.client}.docx" for p in plan if p.skipped is None}
    taken = [p for p in paths.values() if p.exists() or p.is_symlink()]
    if taken:
        more = f" (and {len(taken) - 1} more)" if len(taken) > 1 else ""
        raise ConflictError(f"{taken[0]} already exists{more}; no letter was written",
                            hint="move the earlier letters away, or give another directory with -o")
    for code, out in paths.items():
        letter = generate(session, DUNNING, code, given, out, file_back, level=level)
        rows[code] = OverdueLetter(code, letter.level, letter)
    return [rows[code] for code in sorted(rows)]
