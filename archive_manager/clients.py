"""Clients (dossiers): add, list, show; and ``whoami``."""

from __future__ import annotations

from archive_manager.errors import UsageError
from archive_manager.session import Session
from archive_manager.text import check_text, printable
from archive_manager.vault.classkeys import DIRECTORY
from archive_manager.vault.directory import check_client_code
from archive_manager.vault.slot import new_slot

PROFILE_CLASS = "basic"


def whoami(session: Session) -> dict:
    with session.recorded("whoami"):
        return {
            "user": session.user,
            "departments": list(session.departments),
            "actions": sorted(session.policy.actions_for(session.departments)),
            "classes": session.classes_for("read"),
            "fingerprint": session.keyring.identity.fingerprint,
        }


def parse_fields(pairs: list[str] | tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"invalid --set value {pair!r}", hint="use --set key=value")
        out[key.strip()] = value
    return out


def add_client(session: Session, code: str, name: str, fields: dict[str, str] | None = None) -> dict:
    """Admit a client: a directory entry and a dossier whose profile is basic information."""
    with session.recorded("client-add", client=code) as details:
        check_client_code(code)
        if not name.strip():
            raise UsageError("the client name is empty", hint="pass --name")
        check_text(name, "the client name")  # it goes into paperwork and onto terminals
        for key, value in (fields or {}).items():
            check_text(key, f"profile field name {printable(key)}")
            check_text(value, f"profile value {key}")
        session.require("file", PROFILE_CLASS)
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
            slot.meta["profile"] = dict(fields or {})
            slot.meta["revision"] = 1
            session.stage_slot(tx, slot, created=True)  # its wrapped content keys and metadata base
            paths = session.vault.paths
            dir_gen = session.store().current(DIRECTORY)
            tx.write(paths.directory, directory.seal(session.vault.vault_id,
                                                     session.class_key(DIRECTORY, dir_gen), dir_gen))
        return {"client": code, "name": name, "profile": slot.meta["profile"]}


def list_clients(session: Session) -> list[dict]:
    with session.recorded("client-list"):
        if not session.classes_for("read"):
            session.require("read", PROFILE_CLASS)
        directory = session.directory()
        return [{"client": code, "name": c["name"], "created": c["created"]}
                for code, c in sorted(directory.clients.items())]


def show_client(session: Session, code: str) -> dict:
    with session.recorded("client-show", client=code):
        session.require("read", PROFILE_CLASS)
        directory = session.directory()
        entry = directory.client(code)
        counts = {}
        profile: dict = {}
        for cls in session.classes_for("read"):
            slot = session.slot(directory, entry["dossier"], cls)
            if slot is None:
                continue
            if cls == PROFILE_CLASS:
                profile = slot.meta.get("profile", {})
            if slot.documents:
                counts[cls] = len(slot.documents)
        return {"client": code, "name": entry["name"], "created": entry["created"],
                "profile": profile, "documents": counts}
