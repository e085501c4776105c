"""``archive verify``: decrypt and authenticate every metadata file (base and
records) and document version and its extracted text the user may read
(admins: all), recompute hashes, compare the vault's
files with the newest state the audit log recorded (a dossier or vault rolled
back to an older, validly encrypted copy), list every problem."""

from __future__ import annotations

from dataclasses import dataclass

from archive_manager.audit.chain import verify_chain
from archive_manager.audit.state import (
    decision_heads,
    compare,
    record_slot,
    recorded_policy,
    recorded_state,
    retired_present,
)
from archive_manager.errors import ArchiveError
from archive_manager.reading import Located, _Discard, decrypt_version, version_text
from archive_manager.policy.admission import RECORD_CLASS
from archive_manager.session import Session
from archive_manager.standing import decision_problems
from archive_manager.results import Result


@dataclass(frozen=True)
class VaultProblem(Result):
    """One thing wrong: where (a client's class slot, a vault file), and the
    document version when it is one."""
    client: str | None
    doc_id: str | None
    version: int | None
    where: str
    problem: str


@dataclass(frozen=True)
class CheckedCounts:
    """What was decrypted and authenticated."""
    clients: int = 0
    slots: int = 0
    documents: int = 0
    versions: int = 0
    bytes: int = 0


@dataclass(frozen=True)
class VaultReport(Result):
    """``verify``'s findings: ``ok`` when no problem was found in the classes
    checked (the user's; ``not_checked`` the classes they hold no key for)."""
    ok: bool
    checked: CheckedCounts
    classes: list[str]
    not_checked: list[str]
    problems: list[VaultProblem]
    notes: list[str]


def _problem(client: str | None, where: str, message: str, doc_id: str | None = None,
             version: int | None = None) -> VaultProblem:
    return VaultProblem(client, doc_id, version, where, message)


def verify_vault(session: Session) -> VaultReport:
    with session.recorded("verify") as details:
        classes = session.classes_for("read")
        if not classes:
            session.require("read")
        problems: list[VaultProblem] = []
        notes: list[str] = []
        if session.vault.recover():
            notes.append("completed or undid a vault commit that was interrupted")
        swept = session.vault.sweep_staged()
        if swept:
            notes.append(f"removed {swept} temporary file(s) left by commands that were killed")
        counts = {"clients": 0, "slots": 0, "documents": 0, "versions": 0, "bytes": 0}
        directory = session.directory()
        users = session.users()
        heads = decision_heads(session.home.audit_log().lines()) if RECORD_CLASS in classes else {}
        known = set()
        for code, entry in sorted(directory.clients.items()):
            counts["clients"] += 1
            dossier = entry["dossier"]
            known.add(dossier)
            for cls in classes:
                _verify_slot(session, directory, code, dossier, cls, counts, problems, notes)
            if RECORD_CLASS in classes:
                problems += [_problem(code, f"client {code}, decisions", p)
                             for p in decision_problems(session, code, dossier, users, heads)]
        if session.policy.allows(session.departments, "admin"):
            for dossier in session.vault.dossier_ids():
                if dossier not in known:
                    problems.append(_problem(None, f"dossiers/{dossier}", "dossier directory is in no client's record"))
        problems += _rollback_problems(session, directory, notes, users)
        problems += _control_problems(session)
        unheld = sorted(c for c in session.store().classes() if c not in classes)
        details.objects["problems"] = len(problems)
        return VaultReport(not problems, CheckedCounts(**counts), classes, unheld, problems, notes)


def _control_problems(session: Session) -> list[VaultProblem]:
    """What the signatures alone cannot show: generations no rotation in
    progress explains, and a signed policy that is not the one the audit log
    recorded at the last sync."""
    out = [_problem(None, "vault/keys.json", f"class {cls!r} has key generations that no rotation in progress "
                    "explains; none is adopted") for cls in session.store().extra_generations()]
    recorded = recorded_policy(session.home.audit_log().lines(), session.vault.vault_id)
    if recorded != session.signed_policy.digest:
        out.append(_problem(None, "vault/policy.json",
                            "the signed policy in force is not the one the audit log recorded at its last sync "
                            f"({(recorded or 'none')[:16]}…): it was put back from an older copy or replaced"))
    return out


def _log_problems(session: Session, users) -> list[VaultProblem]:
    """The vault's files are held to the audit log below, so the log must
    hold first: chained, and every event signed by its user (but a failed
    sign-in's, which names no commit). A line appended by someone who can
    write the log, naming files put back as the newest, fails here."""
    def public_key(name: str) -> bytes | None:
        rec = users.users.get(name)
        return rec.identity.sign_public if rec is not None else None

    chain = verify_chain(session.home.audit_log().lines(), public_key)
    if chain.ok:
        return []
    return [_problem(None, "audit log", f"event {chain.failure_seq}: {chain.failure}; the vault's files cannot be "
                     "held to a log that fails its check (audit verify shows the same)")]


def _rollback_problems(session: Session, directory, notes: list[str], users) -> list[VaultProblem]:
    vault = session.vault
    state = recorded_state(session.home.audit_log().lines(), vault.vault_id)
    if state.created is None:
        return [_problem(None, "audit log", "the audit log has no record of this archive's creation "
                         "(missing, replaced or from another archive): rollbacks cannot be checked")]
    out = _log_problems(session, users)
    if retired_present(vault.paths.root, state):
        removed = _remove_folded_records(session)
        if removed:
            notes.append(f"removed {removed} metadata record(s) that a compaction had folded into its slot's "
                         "base (left by a command stopped before removing them, or put back; they were ignored)")
    owners = {}
    for code, entry in directory.clients.items():
        for cls in session.policy.classes:
            owners[f"dossiers/{entry['dossier']}/{directory.slot(entry['dossier'], cls)}"] = (code, cls)
    for p in compare(vault.paths.root, state):
        slot = record_slot(p.path)
        owner = owners.get(slot or p.path.rsplit("/", 1)[0])
        if owner:
            code, cls = owner
            if slot is not None:
                kind = f"metadata record {p.path.rsplit('/', 1)[1].removesuffix('.bin')}"
            else:
                kind = "metadata" if p.path.endswith("meta.bin") else "wrapped keys"
            out.append(_problem(code, f"client {code}, class {cls}: {kind}", p.problem))
        else:
            out.append(_problem(None, f"vault/{p.path}", p.problem))
    return out


def _remove_folded_records(session: Session) -> int:
    """Under the vault lock (no commit runs meanwhile), delete the records the
    log says a later base folded in."""
    vault = session.vault
    with vault.transaction():
        state = recorded_state(session.home.audit_log().lines(), vault.vault_id)
        gone = retired_present(vault.paths.root, state)
        for rel in gone:
            (vault.paths.root / rel).unlink(missing_ok=True)
    return len(gone)


def _verify_slot(session, directory, code, dossier, cls, counts, problems, notes) -> None:
    where = f"client {code}, class {cls}"
    try:
        slot = session.slot(directory, dossier, cls)
    except ArchiveError as exc:
        problems.append(_problem(code, where, exc.message))
        return
    if slot is None:
        return
    counts["slots"] += 1
    referenced = set()
    for doc_id, doc in sorted(slot.documents.items()):
        counts["documents"] += 1
        found = Located(code, slot, doc_id, doc)
        for v in doc["versions"]:
            counts["versions"] += 1
            referenced.add(f"{v['blob']}.bin")
            try:
                decrypt_version(session, found, v, _Discard())
                counts["bytes"] += v["size"]
            except ArchiveError as exc:
                problems.append(_problem(code, where, exc.message, doc_id, v["version"]))
            if (v.get("text") or {}).get("sha256") is not None:
                referenced.add(f"{v['blob']}.text.bin")
                try:
                    version_text(session, found, v)
                except ArchiveError as exc:
                    problems.append(_problem(code, where, exc.message, doc_id, v["version"]))
    objects = session.vault.paths.objects(dossier, slot.slot_id)
    if objects.is_dir():
        for f in sorted(objects.iterdir()):
            if f.name not in referenced:
                notes.append(f"{where}: unreferenced file objects/{f.name} (an interrupted filing or a moved file)")
