"""Thin, typed wrappers over the `cryptography` primitives the archive uses.

Choices (all from cryptography >= 50):
- key wrapping and small AEAD: AES-256-GCM with a 96-bit random nonce and
  associated data binding every wrapped key to its slot;
- key sealing to users: HPKE with the hybrid ML-KEM-768 + X25519 KEM,
  HKDF-SHA256 and AES-256-GCM (archives live for decades);
- signatures: Ed25519;
- passphrases: Argon2id (see :mod:`archive_manager.crypto.kdf`);
- streams: C2SP chunked encryption (cobblestone-256).

Secrets this process keeps (a keyring's private keys, class and content
keys) live in ``bytearray`` buffers their holder owns and overwrites with
:func:`wipe` when it lets them go; every primitive here takes any bytes-like
key. Python cannot wipe a ``bytes`` object, nor the copies `cryptography`
and OpenSSL make inside their own key objects.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Callable

from cryptography.cobblestone import Cobblestone256Decryptor, Cobblestone256Encryptor
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, hpke
from cryptography.hazmat.primitives.asymmetric import ed25519, mlkem, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from archive_manager.errors import IntegrityError

KEY_BYTES = 32
NONCE_BYTES = 12
RandomBytes = Callable[[int], bytes]

_SUITE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)


def wipe(secret: bytearray | memoryview) -> None:
    """Overwrite ``secret`` with zeros in place (its length stays)."""
    secret[:] = bytes(len(secret))


def derive_key(key: bytes, purpose: str, length: int = KEY_BYTES) -> bytes:
    """HKDF-SHA256 subkey of ``key`` for one named purpose."""
    return HKDF(hashes.SHA256(), length, salt=None, info=purpose.encode("utf-8")).derive(key)


def keyed_name(key: bytes, *parts: str, length: int = 16) -> str:
    """An opaque, stable file name: hex HMAC-SHA256 of ``parts`` under ``key``."""
    msg = "\x00".join(parts).encode("utf-8")
    return hmac.new(key, msg, hashlib.sha256).hexdigest()[: 2 * length]


def aead_encrypt(key: bytes, plaintext: bytes, aad: bytes, rng: RandomBytes) -> bytes:
    nonce = rng(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def aead_decrypt(key: bytes, blob: bytes, aad: bytes, what: str) -> bytes:
    if len(blob) < NONCE_BYTES + 16:
        raise IntegrityError(f"{what} is truncated")
    try:
        return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
    except InvalidTag:
        raise IntegrityError(f"{what} failed authentication") from None


def aead_decrypt_secret(key: bytes, blob: bytes, aad: bytes, what: str) -> bytearray:
    """:func:`aead_decrypt` into a buffer the caller owns (and wipes): the
    plaintext never exists as ``bytes``."""
    if len(blob) < NONCE_BYTES + 16:
        raise IntegrityError(f"{what} is truncated")
    out = bytearray(len(blob) - NONCE_BYTES - 16)
    try:
        AESGCM(key).decrypt_into(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad, out)
    except InvalidTag:
        wipe(out)
        raise IntegrityError(f"{what} failed authentication") from None
    return out


def wrap_key(wrapping_key: bytes, key: bytes, aad: str, rng: RandomBytes) -> bytes:
    """Encrypt a key under another key, bound to ``aad`` (its slot)."""
    return aead_encrypt(wrapping_key, key, aad.encode("utf-8"), rng)


def unwrap_key(wrapping_key: bytes, blob: bytes, aad: str) -> bytearray:
    """The key wrapped in ``blob``, in a buffer the caller owns."""
    return aead_decrypt_secret(wrapping_key, blob, aad.encode("utf-8"), "wrapped key")


# --- HPKE -----------------------------------------------------------------

KEM_SECRET_BYTES = 64 + 32  # ML-KEM-768 seed, X25519 scalar


def kem_generate(rng: RandomBytes) -> bytes:
    """Fresh hybrid KEM private key material (ML-KEM seed || X25519 scalar)."""
    return rng(KEM_SECRET_BYTES)


def _kem_private(secret: bytes) -> hpke.MLKEM768X25519PrivateKey:
    # views, not slices: a slice of a bytearray would be a copy nobody wipes
    with memoryview(secret) as view:
        return hpke.MLKEM768X25519PrivateKey(
            mlkem.MLKEM768PrivateKey.from_seed_bytes(view[:64]),
            x25519.X25519PrivateKey.from_private_bytes(view[64:]),
        )


def kem_public_bytes(secret: bytes) -> bytes:
    """Serialised public key: ML-KEM-768 public (1184 bytes) || X25519 public (32)."""
    with memoryview(secret) as view:
        m = mlkem.MLKEM768PrivateKey.from_seed_bytes(view[:64]).public_key()
        x = x25519.X25519PrivateKey.from_private_bytes(view[64:]).public_key()
    return m.public_bytes_raw() + x.public_bytes_raw()


def _kem_public(public: bytes) -> hpke.MLKEM768X25519PublicKey:
    if len(public) != 1184 + 32:
        raise IntegrityError("a stored public key has the wrong length")
    return hpke.MLKEM768X25519PublicKey(
        mlkem.MLKEM768PublicKey.from_public_bytes(public[:1184]),
        x25519.X25519PublicKey.from_public_bytes(public[1184:]),
    )


def hpke_seal(public: bytes, plaintext: bytes, info: str) -> bytes:
    """Seal ``plaintext`` to a user's KEM public key (HPKE base mode)."""
    return _SUITE.encrypt(plaintext, _kem_public(public), info=info.encode("utf-8"))


def hpke_open(secret: bytes, ciphertext: bytes, info: str) -> bytes:
    try:
        return _SUITE.decrypt(ciphertext, _kem_private(secret), info=info.encode("utf-8"))
    except (InvalidTag, ValueError):
        raise IntegrityError("a sealed key failed authentication") from None


# --- Ed25519 --------------------------------------------------------------


def signing_public_bytes(secret: bytes) -> bytes:
    return ed25519.Ed25519PrivateKey.from_private_bytes(secret).public_key().public_bytes_raw()


def sign(secret: bytes, message: bytes) -> bytes:
    return ed25519.Ed25519PrivateKey.from_private_bytes(secret).sign(message)


def verify_signature(public: bytes, signature: bytes, message: bytes) -> bool:
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


# --- streams --------------------------------------------------------------


def stream_encryptor(key: bytes, context: bytes) -> Cobblestone256Encryptor:
    return Cobblestone256Encryptor(key, context)


def stream_decryptor(key: bytes, context: bytes) -> Cobblestone256Decryptor:
    return Cobblestone256Decryptor(key, context)


STREAM_ERRORS = (InvalidTag, ValueError)
