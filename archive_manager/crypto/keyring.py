"""User keyrings: a KEM key pair for receiving sealed keys and an Ed25519
signing key, the private halves encrypted under an Argon2id-derived key.

The stored record is a JSON-ready dict; it holds the KDF parameters and salt,
so a keyring unlocks the same way whatever profile is in force later.

The encrypted part also holds the fingerprint of the archive's trust root
(:mod:`archive_manager.vault.trust`): a session checks every signed control
record against what its own keyring says, never against a writable file
alone. Keyrings made before the trust root existed have none (``root`` is
None) until their owner confirms it with ``archive upgrade``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from archive_manager.crypto import primitives as p
from archive_manager.crypto.encoding import b64d, b64e
from archive_manager.crypto.kdf import KdfParams, derive_passphrase_key
from archive_manager.errors import AuthenticationError, IntegrityError

SALT_BYTES = 16
ROOT_BYTES = 32  # SHA-256 of the trust root


@dataclass(frozen=True)
class PublicIdentity:
    user: str
    kem_public: bytes
    sign_public: bytes

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256(self.kem_public + self.sign_public).hexdigest()
        return digest[:16]

    @classmethod
    def from_record(cls, user: str, record: dict) -> "PublicIdentity":
        try:
            return cls(user, b64d(record["kem_public"]), b64d(record["sign_public"]))
        except (KeyError, TypeError):
            raise IntegrityError(f"keyring of user {user!r} is malformed") from None


@dataclass(frozen=True)
class UnlockedKeyring:
    identity: PublicIdentity
    kem_secret: bytes
    sign_secret: bytes
    root: bytes | None = None  # the trust root's fingerprint this keyring vouches for

    @property
    def user(self) -> str:
        return self.identity.user

    def open_sealed(self, ciphertext: bytes, info: str) -> bytes:
        return p.hpke_open(self.kem_secret, ciphertext, info)

    def sign(self, message: bytes) -> bytes:
        return p.sign(self.sign_secret, message)


def _aad(identity: PublicIdentity, params: KdfParams) -> bytes:
    return json.dumps(
        ["am/1 keyring", identity.user, identity.fingerprint, params.to_dict()],
        sort_keys=True,
    ).encode("utf-8")


def _record(keys: UnlockedKeyring, passphrase: str, params: KdfParams, rng: p.RandomBytes) -> dict:
    salt = rng(SALT_BYTES)
    wrapping = derive_passphrase_key(passphrase, salt, params)
    secret = keys.kem_secret + keys.sign_secret + (keys.root or b"")
    sealed = p.aead_encrypt(wrapping, secret, _aad(keys.identity, params), rng)
    return {
        "kem_public": b64e(keys.identity.kem_public),
        "sign_public": b64e(keys.identity.sign_public),
        "kdf": params.to_dict(),
        "salt": b64e(salt),
        "sealed_private": b64e(sealed),
    }


def new_keys(user: str, rng: p.RandomBytes, root: bytes | None = None) -> UnlockedKeyring:
    """Fresh key pairs for ``user`` (not yet stored anywhere)."""
    kem_secret = p.kem_generate(rng)
    sign_secret = rng(32)
    identity = PublicIdentity(user, p.kem_public_bytes(kem_secret), p.signing_public_bytes(sign_secret))
    return UnlockedKeyring(identity, kem_secret, sign_secret, root)


def create_keyring(
    user: str, passphrase: str, params: KdfParams, rng: p.RandomBytes, root: bytes | None = None
) -> tuple[dict, UnlockedKeyring]:
    """New key pairs for ``user``, vouching for trust root ``root``; returns
    the stored record and the unlocked keys."""
    keys = new_keys(user, rng, root)
    return _record(keys, passphrase, params, rng), keys


def rekey_keyring(
    keys: UnlockedKeyring, passphrase: str, params: KdfParams, rng: p.RandomBytes
) -> dict:
    """The same key pairs (and trust root) under a new passphrase (``user
    passwd``, or a root confirmed by ``archive upgrade``)."""
    return _record(keys, passphrase, params, rng)


def decoy_unlock(passphrase: str, params: KdfParams) -> None:
    """The key derivation of an unlock, for a user who has no keyring
    (unknown, removed): the refusal then takes as long as a wrong passphrase."""
    derive_passphrase_key(passphrase, b"\0" * 16, params)


def unlock_keyring(user: str, record: dict, passphrase: str) -> UnlockedKeyring:
    identity = PublicIdentity.from_record(user, record)
    try:
        params = KdfParams.from_dict(record["kdf"])
        salt = b64d(record["salt"], "keyring salt")
        sealed = b64d(record["sealed_private"], "keyring")
    except (KeyError, TypeError):
        raise IntegrityError(f"keyring of user {user!r} is malformed") from None
    wrapping = derive_passphrase_key(passphrase, salt, params)
    try:
        secret = p.aead_decrypt(wrapping, sealed, _aad(identity, params), "keyring")
    except IntegrityError:
        raise AuthenticationError(
            f"wrong passphrase for user {user!r}",
            hint="check ARCHIVE_PASSPHRASE or --passphrase-file; a lost passphrase cannot be reset: an admin removes the user and adds them under a new name",
        ) from None
    kem_end, sign_end = p.KEM_SECRET_BYTES, p.KEM_SECRET_BYTES + 32
    if len(secret) not in (sign_end, sign_end + ROOT_BYTES):
        raise IntegrityError(f"keyring of user {user!r} is malformed")
    keys = UnlockedKeyring(identity, secret[:kem_end], secret[kem_end:sign_end], secret[sign_end:] or None)
    if p.kem_public_bytes(keys.kem_secret) != identity.kem_public or (
        p.signing_public_bytes(keys.sign_secret) != identity.sign_public
    ):
        raise IntegrityError(f"keyring of user {user!r} does not match its public keys")
    return keys
