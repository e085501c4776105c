"""Clients (dossiers): add, list, show, edit; and ``whoami``.

A client's profile (basic information: legal representative, address,
contact, credit limit ...) lives in the sealed metadata of its basic-class
slot, with the earlier values of every edited field beside it
(``profile_history``), so both are as confidential as the profile and both
are covered by the slot's integrity checks. ``policies/profile.toml`` says
which fields there are, what each holds and which department owns it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from archive_manager.errors import AccessDenied, UsageError
from archive_manager.generation.values import money
from archive_manager.policy import ADMIN_DEPARTMENT, PROFILE_CLASS, ProfileField
from archive_manager.policy.profile import FIELD_NAME, RESERVED
from archive_manager.session import Session
from archive_manager.text import check_text, printable
from archive_manager.vault.classkeys import DIRECTORY
from archive_manager.vault.directory import check_client_code
from archive_manager.vault.slot import new_slot
from archive_manager.results import Result

if TYPE_CHECKING:
    from archive_manager.reading import DocumentRow

HISTORY = "profile_history"  # the slot metadata key of the earlier values
# unified social credit code (GB 32100-2015): 17 characters and a check character
_CODE_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


@dataclass(frozen=True)
class FieldChange:
    """One field's change: ``old`` None where it was not set, ``new`` None where it was removed."""
    field: str
    old: str | None
    new: str | None
    by: str
    time: str


@dataclass(frozen=True)
class ClientEdit:
    client: str
    name: str
    changes: list[FieldChange] = field(default_factory=list)  # empty: every value was already so
    profile: dict[str, str] = field(default_factory=dict)  # as it is now


@dataclass(frozen=True)
class SignedInUser(Result):
    """Who is signed in (``whoami``): departments, the actions the policy
    grants them, the classes they read, and their key's fingerprint."""
    user: str
    departments: list[str]
    actions: list[str]
    classes: list[str]
    fingerprint: str


@dataclass(frozen=True)
class AddedClient(Result):
    client: str
    name: str
    profile: dict[str, str]


@dataclass(frozen=True)
class ClientEntry(Result):
    """A client as ``client list`` lists it."""
    client: str
    name: str
    created: str


@dataclass(frozen=True)
class ClientSummary:
    """A client's profile and how many documents it holds in each class the
    user reads; ``history`` (asked for) every earlier profile value, oldest first."""
    client: str
    name: str
    created: str
    profile: dict[str, str]
    documents: dict[str, int]
    history: list[FieldChange] | None = None

    def to_dict(self) -> dict:
        out = asdict(self)
        if self.history is None:
            del out["history"]
        return out


def whoami(session: Session) -> SignedInUser:
    with session.recorded("whoami"):
        return SignedInUser(session.user, list(session.departments),
                            sorted(session.policy.actions_for(session.departments)), session.classes_for("read"),
                            session.keyring.identity.fingerprint)


def add_client(session: Session, code: str, name: str, fields: dict[str, str] | None = None) -> AddedClient:
    """Register a client: a directory entry and a dossier whose profile is
    basic information. Where the policy has an admission chain, only an
    administrator registers (a client admitted before the archive), signed
    as the first of the client's decisions; new clients go through admission."""
    with session.recorded("client-add", client=code) as details:
        check_client_code(code)
        if not name.strip():
            raise UsageError("the client name is empty", hint="give the client's name", code="no-name")
        check_text(name, "the client name")  # it goes into paperwork and onto terminals
        declared = session.policy.profile or {}
        profile = {}
        for key, value in (fields or {}).items():
            check_text(key, f"profile field name {printable(key)}")
            check_text(value, f"profile value {key}")
            # a declared field holds what it declares; any other is text, as before profile.toml
            profile[key] = check_profile_value(declared[key], value) if key in declared and value.strip() else value
        session.require("file", PROFILE_CLASS)
        if session.policy.admission is not None and ADMIN_DEPARTMENT not in session.departments:
            raise AccessDenied(f"user {session.user!r} ({', '.join(session.departments) or 'no department'}) may not "
                               "add a client directly: new clients are admitted through an application reviewed by "
                               "every department of the admission chain",
                               hint="start an admission application; administrators register clients admitted "
                                    "before the archive", code="admission-required")
        details["name"] = name
        rt = session.runtime
        with session.transaction() as tx:
            session.store(fresh=True)
            directory = session.directory()
            dossier = rt.token(10)
            directory.add(code, dossier, name, rt.timestamp())
            gen = session.store().current(PROFILE_CLASS)
            slot = new_slot(session.vault.vault_id, dossier, PROFILE_CLASS,
                            directory.slot(dossier, PROFILE_CLASS), gen, rt.random_bytes(32))
            slot.meta["profile"] = profile
            slot.meta["revision"] = 1
            if session.policy.admission is not None:  # its record starts signed: admitted by an administrator
                from archive_manager.standing import sign_decision
                sign_decision(session, slot, "register", {"client": code, "status": "admitted", "reason": "client add"},
                              ADMIN_DEPARTMENT, details)
                directory.mark(code, status="admitted")
            session.stage_slot(tx, slot, created=True)  # its wrapped content keys and metadata base
            paths = session.vault.paths
            dir_gen = session.store().current(DIRECTORY)
            tx.write(paths.directory, directory.seal(session.vault.vault_id,
                                                     session.class_key(DIRECTORY, dir_gen), dir_gen))
        return AddedClient(code, name, slot.meta["profile"])


def list_clients(session: Session) -> list[ClientEntry]:
    with session.recorded("client-list"):
        if not session.classes_for("read"):
            session.require("read", PROFILE_CLASS)
        directory = session.directory()
        return [ClientEntry(code, c["name"], c["created"]) for code, c in sorted(directory.clients.items())]


def show_client(session: Session, code: str, history: bool = False) -> ClientSummary:
    """The client's profile and document counts per class the user reads; with
    ``history``, every earlier value of the profile, oldest first."""
    with session.recorded("client-show", client=code):
        session.require("read", PROFILE_CLASS)
        directory = session.directory()
        entry = directory.client(code)
        counts = {}
        profile: dict = {}
        earlier: list = []
        for cls in session.classes_for("read"):
            slot = session.slot(directory, entry["dossier"], cls)
            if slot is None:
                continue
            if cls == PROFILE_CLASS:
                profile = slot.meta.get("profile", {})
                earlier = slot.meta.get(HISTORY, [])
            if slot.documents:
                counts[cls] = len(slot.documents)
        return ClientSummary(code, entry["name"], entry["created"], profile, counts,
                             [FieldChange(**h) for h in earlier] if history else None)


@dataclass(frozen=True)
class DossierSection:
    """The documents of one access class in a client's dossier (rows as ``ls`` lists them)."""
    access_class: str
    name: str
    documents: tuple[DocumentRow, ...]


@dataclass(frozen=True)
class Dossier:
    client: str
    name: str
    created: str
    profile: dict
    sections: tuple[DossierSection, ...]  # the classes the user reads, in the policy's order


def dossier(session: Session, code: str) -> Dossier:
    """A client's dossier as the user may see it: the profile and, class by
    class, the documents; each slot read once (``show_client`` and
    ``ls --client`` together read them twice). Recorded as ``client-show``."""
    from archive_manager.reading import document_row  # reading builds on the session, as this module does

    with session.recorded("client-show", client=code):
        session.require("read", PROFILE_CLASS)
        directory = session.directory()
        entry = directory.client(code)
        order = list(session.policy.classes)
        readable = sorted(session.classes_for("read"), key=lambda c: order.index(c) if c in order else len(order))
        profile: dict = {}
        sections = []
        for cls in readable:
            slot = session.slot(directory, entry["dossier"], cls)
            if slot is not None and cls == PROFILE_CLASS:
                profile = dict(slot.meta.get("profile", {}))
            rows = sorted((document_row(code, slot, doc_id, doc) for doc_id, doc in slot.documents.items()),
                          key=lambda r: (r.date, r.doc_id)) if slot is not None else []
            name = session.policy.classes[cls].name if cls in session.policy.classes else cls
            sections.append(DossierSection(cls, name, tuple(rows)))
        return Dossier(code, entry["name"], entry["created"], profile, tuple(sections))


def edit_client(session: Session, code: str, values: dict[str, str]) -> ClientEdit:
    """Change fields of ``code``'s profile (an empty value removes a field).
    Every field is checked (known, owned by one of the user's departments or
    the user an administrator, a valid value) before anything is written; the
    earlier values go into the profile's history, and the edit is one audit
    event (field names in clear, values sealed to the auditors)."""
    with session.recorded("client-edit", client=code) as details:
        if not values:
            raise UsageError("nothing to change", hint="give the profile fields to change", code="nothing-to-change",
                             fields=("set",))
        with session.transaction() as tx:
            slot, created = session.slot_to_write(code, PROFILE_CLASS)
            name = session.directory().client(code)["name"]
            profile = dict(slot.meta.get("profile", {}))
            _check_signed_terms(session, slot, values, code)
            checked = _check_edit(session, values, profile)
            now = session.runtime.timestamp()
            changes = [FieldChange(f, profile.get(f), new, session.user, now)
                       for f, new in checked.items() if profile.get(f) != new]
            if not changes:
                return ClientEdit(code, name, [], profile)
            for change in changes:
                if change.new is None:
                    del profile[change.field]
                else:
                    profile[change.field] = change.new
            slot.meta["profile"] = profile
            slot.meta[HISTORY] = [*slot.meta.get(HISTORY, []), *(asdict(c) for c in changes)]
            slot.meta["revision"] = slot.meta.get("revision", 0) + 1
            details.objects["fields"] = [c.field for c in changes]  # recorded at the commit
            details["changes"] = {c.field: [c.old, c.new] for c in changes}
            session.stage_slot(tx, slot, created)
        return ClientEdit(code, name, changes, profile)


def _check_signed_terms(session: Session, slot, values: dict[str, str], code: str) -> None:
    """Credit terms a signed decision set change only by a signed re-assessment."""
    from archive_manager.standing import check_decisions

    touched = [k for k in values if k in ("credit_rating", "credit_limit")]
    if not touched or session.policy.admission is None:
        return
    credit = check_decisions(session, slot, code=code, entry=session.directory().client(code)).credit
    if credit.rating is not None or credit.limit is not None:
        raise UsageError(f"{', '.join(touched)} of this client were set by a signed decision: they change only "
                         "through a signed credit re-assessment",
                         hint="the credit department re-assesses the client, with its opinion",
                         code="credit-by-reassessment")


def _check_edit(session: Session, values: dict[str, str], profile: dict) -> dict[str, str | None]:
    """The new values (None: remove), or the first refusal: an unknown field,
    then a field the user may not change, then a bad value. A field the policy
    does not declare but the profile holds (given at admission, or set before
    profile.toml) is text only an administrator changes."""
    declared = session.policy.profile
    admin = session.policy.allows(session.departments, "admin")
    for key in values:
        check_text(key, f"profile field name {printable(key)}")
        known = key in profile or (key in declared if declared is not None else bool(FIELD_NAME.fullmatch(key)))
        if key in RESERVED or not known:
            raise UsageError(f"unknown profile field {key!r}", hint=_known_hint(declared, key))
    for key in values if not admin else ():
        if declared is None:
            raise AccessDenied("this archive's policy names no owners of profile fields: only an administrator "
                               "changes a client's profile",
                               hint="an administrator copies the shipped policies/profile.toml into the archive's "
                                    "policies/ and signs the policy", code="profile-unowned")
        if not session.policy.owns(session.departments, key):
            owners = declared[key].owners if key in declared else ()
            raise AccessDenied(
                f"user {session.user!r} ({', '.join(session.departments) or 'no department'}) may not change the "
                f"profile field {key!r}",
                hint=f"its owners are {', '.join(owners)} (policies/profile.toml), and administrators" if owners
                else "only administrators change a field policies/profile.toml gives no owner")
    out: dict[str, str | None] = {}
    for key, value in values.items():
        check_text(value, f"profile value {key}")
        kind = (declared or {}).get(key)
        out[key] = None if not value.strip() else check_profile_value(kind, value) if kind is not None else value
    return out


def _known_hint(declared: dict[str, ProfileField] | None, key: str) -> str:
    if key in RESERVED:
        return f"the client's {key} is its directory entry, not a profile field"
    if declared is None:
        return "use lower-case letters, digits and '_', starting with a letter"
    return "known fields: " + ", ".join(f"{f.id} ({f.name})" for f in declared.values())


def check_profile_value(declared: ProfileField, value: str) -> str:
    """``value`` as the field's kind keeps it, or a :class:`UsageError` naming the field."""
    if declared.kind == "money":
        try:
            return format(money(value), "f")
        except UsageError as exc:
            raise exc.reworded(f"{declared.id}: {exc.message}") from None
    if declared.kind == "credit-code":
        code = value.strip().upper()
        if not _credit_code_ok(code):
            raise UsageError(f"{declared.id}: {value!r} is not a unified social credit code",
                             hint="18 digits and capital letters (no I, O, S, V, Z) whose last one is the check "
                                  "digit of GB 32100-2015")
        return code
    if declared.kind == "choice":
        if value.strip() not in declared.choices:
            raise UsageError(f"{declared.id}: {value!r} is not one of {', '.join(declared.choices)}")
        return value.strip()
    return value


def _credit_code_ok(code: str) -> bool:
    if len(code) != 18 or any(ch not in _CODE_CHARS for ch in code):
        return False
    total = sum(_CODE_CHARS.index(ch) * w for ch, w in zip(code, _CODE_WEIGHTS))
    return _CODE_CHARS[(31 - total % 31) % 31] == code[17]


__all__ = ["check_profile_value", "AddedClient", "ClientEdit", "ClientEntry", "ClientSummary", "Dossier", "DossierSection", "FieldChange",
           "SignedInUser", "add_client", "dossier", "edit_client", "list_clients", "show_client", "whoami"]
