"""One (dossier, access class) slot: its content keys and its sealed metadata.

Content keys come in epochs. Every class-key rotation wraps the old epochs
under the new class key and adds a fresh epoch, so whoever kept an old class
key cannot read anything written after the rotation. New documents and every
metadata rewrite use the newest epoch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable

from archive_manager.crypto import open_bytes, seal_bytes, unwrap_key, wrap_key
from archive_manager.crypto.encoding import b64d, b64e
from archive_manager.errors import IntegrityError
from archive_manager.vault.fsio import dump_json, read_json
from archive_manager.vault.layout import VaultPaths, binding

ClassKeyFor = Callable[[int], bytes]


@dataclass
class Slot:
    vault_id: str
    dossier: str
    access_class: str
    slot_id: str
    gen: int
    keys: dict[int, bytes]
    meta: dict = field(default_factory=lambda: {"documents": {}, "profile": {}, "revision": 0})

    # --- content keys ---------------------------------------------------

    def _key_aad(self, epoch: int, gen: int) -> str:
        return binding("content-key", self.vault_id, self.dossier, self.access_class, epoch, gen)

    @property
    def epoch(self) -> int:
        return max(self.keys)

    def content_key(self, epoch: int) -> bytes:
        try:
            return self.keys[int(epoch)]
        except (KeyError, ValueError, TypeError, OverflowError):
            raise IntegrityError(f"content key epoch {epoch} is missing in dossier slot {self.slot_id}") from None

    def wrapped_keys(self, class_key: bytes, gen: int, rng) -> bytes:
        epochs = {str(e): b64e(wrap_key(class_key, k, self._key_aad(e, gen), rng)) for e, k in self.keys.items()}
        return dump_json({"gen": gen, "epochs": epochs})

    def add_epoch(self, key: bytes) -> int:
        epoch = self.epoch + 1
        self.keys[epoch] = key
        return epoch

    # --- metadata -------------------------------------------------------

    def _meta_binding(self) -> str:
        return binding("meta", self.vault_id, self.dossier, self.access_class)

    def sealed_meta(self) -> bytes:
        body = json.dumps(self.meta, ensure_ascii=False, sort_keys=True).encode("utf-8")
        return seal_bytes(self.content_key(self.epoch), {"kind": "meta", "epoch": self.epoch},
                          self._meta_binding(), body)

    @property
    def documents(self) -> dict[str, dict]:
        return self.meta["documents"]

    def doc_binding(self, doc_id: str, version: int) -> str:
        return binding("doc", self.vault_id, self.dossier, self.access_class, doc_id, version)


def _read_keys(paths: VaultPaths, dossier: str, slot_id: str) -> dict | None:
    try:
        return read_json(paths.slot_keys(dossier, slot_id), "content key file")
    except FileNotFoundError:
        return None


def load_slot(
    paths: VaultPaths, vault_id: str, dossier: str, access_class: str, slot_id: str,
    class_key_for: ClassKeyFor,
) -> Slot | None:
    """The slot, decrypted, or ``None`` if nothing was ever filed in it."""
    data = _read_keys(paths, dossier, slot_id)
    if data is None:
        return None
    try:
        gen = int(data["gen"])
        wrapped = {int(e): b64d(w, "wrapped content key") for e, w in data["epochs"].items()}
    except (KeyError, TypeError, ValueError):
        raise IntegrityError(f"content key file of dossier slot {slot_id} is malformed") from None
    slot = Slot(vault_id, dossier, access_class, slot_id, gen, {})
    class_key = class_key_for(gen)
    try:
        slot.keys = {e: unwrap_key(class_key, w, slot._key_aad(e, gen)) for e, w in wrapped.items()}
    except IntegrityError:
        raise IntegrityError(f"content keys of dossier slot {slot_id} failed authentication") from None
    if not slot.keys:
        raise IntegrityError(f"content key file of dossier slot {slot_id} is empty")
    try:
        blob = paths.slot_meta(dossier, slot_id).read_bytes()
    except FileNotFoundError:
        return slot  # keys written, no document committed yet
    _, body = open_bytes(blob, lambda h: slot.content_key(h.get("epoch", 0)), slot._meta_binding(),
                         f"metadata of dossier slot {slot_id}")
    try:
        slot.meta = json.loads(body)
    except ValueError:
        raise IntegrityError(f"metadata of dossier slot {slot_id} is malformed") from None
    return slot


def new_slot(vault_id: str, dossier: str, access_class: str, slot_id: str, gen: int, key: bytes) -> Slot:
    return Slot(vault_id, dossier, access_class, slot_id, gen, {1: key})
