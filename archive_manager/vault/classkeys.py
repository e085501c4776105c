"""Class keys, one per access class (plus the directory key), each generation
sealed with HPKE to every user who holds it.

A rotation adds generation ``g+1`` beside ``g``; dossiers are re-wrapped one by
one, and only then is ``g`` dropped. A crash in between leaves both readable,
and ``archive policy sync`` finishes the job.

The whole store (every generation, every sealed copy, the audit key's public
half) is endorsed by the administrator who wrote it last, and each generation
carries a key check (an HMAC under the key itself), so a copy sealed to a user
opens only to the key the administrator created. A store is used only after
:meth:`ClassKeyStore.verify`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from archive_manager.crypto import PublicIdentity, UnlockedKeyring, hpke_seal, keyed_name
from archive_manager.crypto.encoding import b64d, b64e
from archive_manager.errors import AccessDenied, IntegrityError, NotFound
from archive_manager.vault.fsio import dump_json, read_json
from archive_manager.vault.layout import VaultPaths, binding

if TYPE_CHECKING:
    from archive_manager.vault.trust import SignerLike, Trust

DIRECTORY = "_directory"
# The audit key: an HPKE key pair whose private half is sealed to the auditors
# like a class key; its public half (``public``) lets anyone seal event details.
AUDIT = "_audit"


def _check_shape(data: dict) -> None:
    """Refuse a key store whose structure was edited (it is plaintext JSON)."""
    bad = IntegrityError("class key store (keys.json) is malformed",
                         hint="restore vault/keys.json from a backup")
    classes = data.get("classes")
    pending = data.get("pending_rotation", [])
    if not isinstance(classes, dict) or not isinstance(pending, list):
        raise bad
    for entry in classes.values():
        if not isinstance(entry, dict) or type(entry.get("current")) is not int:
            raise bad
        if not isinstance(entry.get("checks", {}), dict):
            raise bad
        gens = entry.get("gens")
        if not isinstance(gens, dict) or str(entry["current"]) not in gens:
            raise bad
        if not isinstance(entry.get("public", {}), dict):
            raise bad
        for g, sealed in gens.items():
            if not g.isdigit() or not isinstance(sealed, dict):
                raise bad
            if not all(isinstance(u, str) and isinstance(v, str) for u, v in sealed.items()):
                raise bad


class ClassKeyStore:
    def __init__(self, vault_id: str, data: dict) -> None:
        self._vault_id = vault_id
        self._classes: dict = data.setdefault("classes", {})
        self._data = data

    @classmethod
    def load(cls, paths: VaultPaths, vault_id: str) -> "ClassKeyStore":
        data = read_json(paths.keys_json, "class key store")
        _check_shape(data)
        return cls(vault_id, data)

    def body(self) -> dict:
        return {k: v for k, v in self._data.items() if k != "endorsement"}

    def verify(self, trust: "Trust") -> "ClassKeyStore":
        trust.check("class-keys", self.body(), self._data.get("endorsement"),
                    "keys.json (the class keys, their generations and sealed copies)")
        return self

    def serialize(self, trust: "Trust", signer: "SignerLike") -> bytes:
        """The store, endorsed by ``signer`` (an administrator)."""
        self._data["endorsement"] = trust.endorse("class-keys", self.body(), signer)
        return dump_json(self._data)

    def _check_value(self, cls: str, gen: int, key: bytes) -> str:
        return keyed_name(key, "class-key-check", self._info(cls, gen, ""), length=32)

    def _set_check(self, cls: str, gen: int, key: bytes) -> None:
        self._entry(cls).setdefault("checks", {})[str(gen)] = self._check_value(cls, gen, key)

    def add_checks(self, cls: str, gen: int, key: bytes) -> None:
        """Record the key check of a generation made before checks existed (upgrade)."""
        if str(gen) not in self._entry(cls).get("checks", {}):
            self._set_check(cls, gen, key)

    def extra_generations(self) -> list[str]:
        """Classes holding more generations than a rotation in progress explains."""
        pending = set(self.pending())
        return [c for c, e in sorted(self._classes.items())
                if c != AUDIT and (len(e["gens"]) > 2 or (len(e["gens"]) == 2 and c not in pending))]

    def _info(self, cls: str, gen: int, user: str) -> str:
        return binding("class-key", self._vault_id, cls, gen, user)

    def _entry(self, cls: str) -> dict:
        try:
            return self._classes[cls]
        except KeyError:
            raise NotFound(f"access class {cls!r} has no key yet",
                           hint="an admin signs the policy again to hand out granted keys",
                           code="no-keys-yet") from None

    def classes(self) -> list[str]:
        """Access classes with a key (not the directory or audit keys)."""
        return sorted(c for c in self._classes if c not in (DIRECTORY, AUDIT))

    def set_public(self, cls: str, gen: int, public: bytes) -> None:
        self._entry(cls).setdefault("public", {})[str(gen)] = b64e(public)

    def public(self, cls: str, gen: int) -> bytes | None:
        value = self._entry(cls).get("public", {}).get(str(gen))
        return None if value is None else b64d(value, "public key")

    def has(self, cls: str) -> bool:
        return cls in self._classes

    def current(self, cls: str) -> int:
        return int(self._entry(cls)["current"])

    def generations(self, cls: str) -> list[int]:
        return sorted(int(g) for g in self._entry(cls)["gens"])

    def holders(self, cls: str, gen: int | None = None) -> set[str]:
        gen = self.current(cls) if gen is None else gen
        return set(self._entry(cls)["gens"].get(str(gen), {}))

    def create(self, cls: str, key: bytes, holders: list[PublicIdentity]) -> None:
        self._classes[cls] = {"current": 1, "gens": {"1": {}}}
        self._set_check(cls, 1, key)
        for ident in holders:
            self.seal_to(cls, 1, key, ident)

    def add_generation(self, cls: str, key: bytes, holders: list[PublicIdentity]) -> int:
        entry = self._entry(cls)
        gen = max(self.generations(cls)) + 1
        entry["gens"][str(gen)] = {}
        entry["current"] = gen
        self._set_check(cls, gen, key)
        for ident in holders:
            self.seal_to(cls, gen, key, ident)
        return gen

    def drop_generation(self, cls: str, gen: int) -> None:
        entry = self._entry(cls)
        if gen == int(entry["current"]):
            raise IntegrityError(f"refusing to drop the current key of class {cls!r}")
        entry["gens"].pop(str(gen), None)
        entry.get("checks", {}).pop(str(gen), None)

    def seal_to(self, cls: str, gen: int, key: bytes, ident: PublicIdentity) -> None:
        self._check_key(cls, gen, key)
        sealed = hpke_seal(ident.kem_public, key, self._info(cls, gen, ident.user))
        self._entry(cls)["gens"][str(gen)][ident.user] = b64e(sealed)

    def forget_user(self, user: str) -> list[str]:
        """Delete every sealed key of ``user``; returns the classes they held."""
        held = []
        for cls, entry in self._classes.items():
            for sealed in entry["gens"].values():
                if sealed.pop(user, None) is not None and cls not in held:
                    held.append(cls)
        return sorted(held)

    def unseal(self, cls: str, gen: int, keyring: UnlockedKeyring) -> bytes:
        gens = self._entry(cls)["gens"]
        if str(gen) not in gens:
            raise IntegrityError(f"it refers to key generation {gen} of class {cls!r}, which keys.json does not hold",
                                 hint="keys.json or this file was put back from an older copy or tampered with",
                                 code="stale-keys")
        sealed = gens[str(gen)].get(keyring.user)
        if sealed is None:
            raise AccessDenied(
                f"user {keyring.user!r} holds no key for access class {cls!r}",
                hint="ask an admin for a grant to a department that holds this class",
            )
        key = keyring.open_sealed(b64d(sealed, "sealed class key"), self._info(cls, gen, keyring.user))
        self._check_key(cls, gen, key)
        return key

    def _check_key(self, cls: str, gen: int, key: bytes) -> None:
        check = self._entry(cls).get("checks", {}).get(str(gen))
        if check is not None and check != self._check_value(cls, gen, key):
            raise IntegrityError(f"keys.json: the key of class {cls!r}, generation {gen}, is not the one "
                                 "an administrator created: it is not used",
                                 hint="the file was changed outside the archive: restore vault/keys.json "
                                      "from a backup")

    # --- rotations pending after a revocation ----------------------------

    def forget_user_class(self, user: str, cls: str) -> None:
        for sealed in self._entry(cls)["gens"].values():
            sealed.pop(user, None)

    def mark_pending(self, classes: list[str]) -> None:
        pending = set(self._data.get("pending_rotation", []))
        self._data["pending_rotation"] = sorted(pending | set(classes))

    def clear_pending(self, cls: str) -> None:
        self._data["pending_rotation"] = [c for c in self._data.get("pending_rotation", []) if c != cls]

    def pending(self) -> list[str]:
        return list(self._data.get("pending_rotation", []))
