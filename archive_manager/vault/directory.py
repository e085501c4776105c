"""The client directory: client code -> dossier id and display name, plus the
naming key that turns (dossier, class) into an opaque slot directory name.
Sealed under the directory key, which every active user holds.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from archive_manager.crypto import keyed_name, open_bytes, seal_bytes
from archive_manager.crypto.encoding import b64d, b64e
from archive_manager.errors import ConflictError, IntegrityError, NotFound, UsageError
from archive_manager.vault.layout import binding

_CODE = re.compile(r"^[A-Za-z0-9_]{1,32}$")


def check_client_code(code: str) -> str:
    if not isinstance(code, str) or not _CODE.fullmatch(code):
        raise UsageError(
            f"invalid client code {code!r}",
            hint="use 1-32 letters, digits or '_' (e.g. C001)",
        )
    return code


@dataclass
class Directory:
    naming_key: bytes
    clients: dict[str, dict] = field(default_factory=dict)
    revision: int = 0

    def binding(self, vault_id: str) -> str:
        return binding("directory", vault_id)

    def seal(self, vault_id: str, key: bytes, gen: int) -> bytes:
        body = json.dumps(
            {"naming_key": b64e(self.naming_key), "clients": self.clients, "revision": self.revision},
            ensure_ascii=False, sort_keys=True,
        ).encode("utf-8")
        return seal_bytes(key, {"kind": "directory", "gen": gen}, self.binding(vault_id), body)

    @classmethod
    def open(cls, blob: bytes, vault_id: str, key_for_gen) -> "Directory":
        _, body = open_bytes(
            blob, lambda h: key_for_gen(int(h.get("gen", 0))), binding("directory", vault_id),
            "client directory",
        )
        try:
            data = json.loads(body)
            return cls(b64d(data["naming_key"]), dict(data["clients"]), int(data["revision"]))
        except (ValueError, KeyError, TypeError):
            raise IntegrityError("client directory is malformed") from None

    def slot(self, dossier: str, access_class: str) -> str:
        return keyed_name(self.naming_key, "slot", dossier, access_class)

    def client(self, code: str) -> dict:
        try:
            return self.clients[code]
        except KeyError:
            raise NotFound(f"unknown client {code!r}", hint="the client list shows the clients",
                           code="no-client") from None

    def add(self, code: str, dossier: str, name: str, created: str) -> None:
        check_client_code(code)
        if code in self.clients:
            raise ConflictError(f"client {code!r} already exists")
        self.clients[code] = {"dossier": dossier, "name": name, "created": created}
        self.revision += 1

    def mark(self, code: str, **values: str) -> None:
        """Note a client's status (and application) in its entry: a finding aid
        for lists, not the record (the client's signed decisions are)."""
        self.client(code).update(values)
        self.revision += 1
