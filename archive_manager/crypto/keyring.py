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
from dataclasses import dataclass, field

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
    """A user's private keys, each in a ``bytearray`` this keyring owns (it
    copies what it is given, so no two keyrings share a buffer; the caller
    wipes its own). :meth:`wipe` overwrites them in place; a wiped keyring
    refuses to open or sign rather than use zeros."""

    identity: PublicIdentity
    kem_secret: bytearray = field(repr=False, hash=False)
    sign_secret: bytearray = field(repr=False, hash=False)
    root: bytes | None = None  # the trust root's fingerprint this keyring vouches for
    wiped: bool = field(default=False, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kem_secret", bytearray(self.kem_secret))
        object.__setattr__(self, "sign_secret", bytearray(self.sign_secret))

    @property
    def user(self) -> str:
        return self.identity.user

    def wipe(self) -> None:
        """Overwrite the private keys with zeros, in place; from then on the
        keyring refuses to be used. What Python cannot reach stays: copies
        made inside `cryptography`/OpenSSL key objects while they existed,
        and the ``bytes`` HPKE returned for what this keyring opened."""
        object.__setattr__(self, "wiped", True)
        p.wipe(self.kem_secret)
        p.wipe(self.sign_secret)

    def _live(self) -> None:
        if self.wiped:
            raise AuthenticationError(f"the keys of user {self.user!r} were closed: the session that unlocked "
                                      "them has ended", hint="sign in again")

    def open_sealed(self, ciphertext: bytes, info: str) -> bytes:
        self._live()
        return p.hpke_open(self.kem_secret, ciphertext, info)

    def sign(self, message: bytes) -> bytes:
        self._live()
        return p.sign(self.sign_secret, message)


def _aad(identity: PublicIdentity, params: KdfParams) -> bytes:
    return json.dumps(
        ["am/1 keyring", identity.user, identity.fingerprint, params.to_dict()],
        sort_keys=True,
    ).encode("utf-8")


def _record(keys: UnlockedKeyring, passphrase: str, params: KdfParams, rng: p.RandomBytes) -> dict:
    keys._live()
    salt = rng(SALT_BYTES)
    wrapping = derive_passphrase_key(passphrase, salt, params)
    secret = keys.kem_secret + keys.sign_secret + (keys.root or b"")  # a bytearray: wiped below
    try:
        sealed = p.aead_encrypt(wrapping, secret, _aad(keys.identity, params), rng)
    finally:
        p.wipe(secret)
        p.wipe(wrapping)
    return {
        "kem_public": b64e(keys.identity.kem_public),
        "sign_public": b64e(keys.identity.sign_public),
        "kdf": params.to_dict(),
        "salt": b64e(salt),
        "sealed_private": b64e(sealed),
    }


def new_keys(user: str, rng: p.RandomBytes, root: bytes | None = None) -> UnlockedKeyring:
    """Fresh key pairs for ``user`` (not yet stored anywhere). The ``bytes``
    the random source returned are copied into the keyring's own buffers;
    those ``bytes`` cannot be wiped."""
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
    p.wipe(derive_passphrase_key(passphrase, b"\0" * 16, params))


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
        secret = p.aead_decrypt_secret(wrapping, sealed, _aad(identity, params), "keyring")
    except IntegrityError:
        raise AuthenticationError(
            f"wrong passphrase for user {user!r}",
            hint="a lost passphrase cannot be reset: an admin removes the user and adds them under a new name",
            code="wrong-passphrase",
        ) from None
    finally:
        p.wipe(wrapping)
    kem_end, sign_end = p.KEM_SECRET_BYTES, p.KEM_SECRET_BYTES + 32
    try:
        if len(secret) not in (sign_end, sign_end + ROOT_BYTES):
            raise IntegrityError(f"keyring of user {user!r} is malformed")
        with memoryview(secret) as view:  # views: the keyring copies them into its own buffers
            keys = UnlockedKeyring(identity, view[:kem_end], view[kem_end:sign_end], bytes(view[sign_end:]) or None)
    finally:
        p.wipe(secret)
    if p.kem_public_bytes(keys.kem_secret) != identity.kem_public or (
        p.signing_public_bytes(keys.sign_secret) != identity.sign_public
    ):
        keys.wipe()
        raise IntegrityError(f"keyring of user {user!r} does not match its public keys")
    return keys
