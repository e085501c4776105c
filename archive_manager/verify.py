"""``archive verify``: decrypt and authenticate every metadata file and document
version the user may read (admins: all), recompute hashes, list every problem."""

from __future__ import annotations

from archive_manager.errors import ArchiveError
from archive_manager.reading import Located, _Discard, decrypt_version
from archive_manager.session import Session
from archive_manager.vault.classkeys import DIRECTORY


def _problem(client: str | None, where: str, message: str, doc_id: str | None = None,
             version: int | None = None) -> dict:
    return {"client": client, "doc_id": doc_id, "version": version, "where": where, "problem": message}


def verify_vault(session: Session) -> dict:
    with session.recorded("verify") as details:
        classes = session.classes_for("read")
        if not classes:
            session.require("read")
        problems: list[dict] = []
        notes: list[str] = []
        counts = {"clients": 0, "slots": 0, "documents": 0, "versions": 0, "bytes": 0}
        directory = session.directory()
        known = set()
        for code, entry in sorted(directory.clients.items()):
            counts["clients"] += 1
            dossier = entry["dossier"]
            known.add(dossier)
            for cls in classes:
                _verify_slot(session, directory, code, dossier, cls, counts, problems, notes)
        if session.policy.allows(session.departments, "admin"):
            for dossier in session.vault.dossier_ids():
                if dossier not in known:
                    problems.append(_problem(None, f"dossiers/{dossier}", "dossier directory is in no client's record"))
        unheld = sorted(c for c in session.store().classes() if c != DIRECTORY and c not in classes)
        details.objects["problems"] = len(problems)
        return {"ok": not problems, "checked": counts, "classes": classes, "not_checked": unheld,
                "problems": problems, "notes": notes}


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
    objects = session.vault.paths.objects(dossier, slot.slot_id)
    if objects.is_dir():
        for f in sorted(objects.iterdir()):
            if f.name not in referenced:
                notes.append(f"{where}: unreferenced file objects/{f.name} (an interrupted filing or a moved file)")
