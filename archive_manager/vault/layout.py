"""Where things live inside ``vault/``. Every name below the top level is an
opaque random or keyed identifier: no client, title, file name or type.

    vault/vault.json                       format version and vault id
    vault/users.json                       users, departments, public keys, locked keyrings
    vault/keys.json                        class keys, sealed (HPKE) to each holder
    vault/trust.json                       the trust root, the signed admin list, the audit log's place
    vault/policy.json                      the policy and template catalog in force, signed
    vault/directory.bin                    client directory, sealed under the directory key
    vault/.journal                         a commit in progress (see :mod:`archive_manager.vault.store`)
    vault/dossiers/<dossier>/<slot>/keys.json        content keys wrapped under the class key
    vault/dossiers/<dossier>/<slot>/meta.bin         slot metadata (its base), sealed under a content key
    vault/dossiers/<dossier>/<slot>/meta/<seq>.bin   one commit's change to the metadata, sealed, chained
    vault/dossiers/<dossier>/<slot>/objects/<id>.bin one document version, sealed
    vault/dossiers/<dossier>/<slot>/objects/<id>.text.bin  that version's extracted text, sealed
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

FORMAT_VERSION = 1


@dataclass(frozen=True)
class VaultPaths:
    root: Path

    @property
    def vault_json(self) -> Path:
        return self.root / "vault.json"

    @property
    def users_json(self) -> Path:
        return self.root / "users.json"

    @property
    def keys_json(self) -> Path:
        return self.root / "keys.json"

    @property
    def trust_json(self) -> Path:
        return self.root / "trust.json"

    @property
    def policy_json(self) -> Path:
        return self.root / "policy.json"

    @property
    def directory(self) -> Path:
        return self.root / "directory.bin"

    @property
    def lock(self) -> Path:
        return self.root / ".lock"

    @property
    def journal(self) -> Path:
        return self.root / ".journal"

    @property
    def dossiers(self) -> Path:
        return self.root / "dossiers"

    def slot_dir(self, dossier: str, slot: str) -> Path:
        return self.dossiers / dossier / slot

    def slot_keys(self, dossier: str, slot: str) -> Path:
        return self.slot_dir(dossier, slot) / "keys.json"

    def slot_meta(self, dossier: str, slot: str) -> Path:
        return self.slot_dir(dossier, slot) / "meta.bin"

    def slot_records(self, dossier: str, slot: str) -> Path:
        return self.slot_dir(dossier, slot) / "meta"

    def slot_record(self, dossier: str, slot: str, seq: int) -> Path:
        return self.slot_records(dossier, slot) / f"{int(seq)}.bin"

    def objects(self, dossier: str, slot: str) -> Path:
        return self.slot_dir(dossier, slot) / "objects"

    def blob(self, dossier: str, slot: str, blob: str) -> Path:
        return self.objects(dossier, slot) / f"{blob}.bin"

    def text_blob(self, dossier: str, slot: str, blob: str) -> Path:
        return self.objects(dossier, slot) / f"{blob}.text.bin"


def binding(*parts: object) -> str:
    """Canonical binding string for sealed files and wrapped keys (format v1)."""
    return json.dumps(["am", FORMAT_VERSION, *parts], ensure_ascii=True, separators=(",", ":"))
