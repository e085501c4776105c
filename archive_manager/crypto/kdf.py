"""Passphrase key derivation (Argon2id) and its parameter profiles.

A keyring stores the parameters it was created with, so unlocking never depends
on the profile in force. ``ARCHIVE_KDF_PROFILE=test`` (read once by the
settings) selects cheap parameters for tests and the demo.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from archive_manager.errors import IntegrityError


@dataclass(frozen=True)
class KdfParams:
    """Argon2id parameters; ``memory_cost`` is in KiB."""

    memory_cost: int
    iterations: int
    lanes: int
    algorithm: str = "argon2id"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "KdfParams":
        try:
            params = cls(
                memory_cost=int(data["memory_cost"]),
                iterations=int(data["iterations"]),
                lanes=int(data["lanes"]),
                algorithm=str(data.get("algorithm", "argon2id")),
            )
        except (KeyError, TypeError, ValueError):
            raise IntegrityError("keyring KDF parameters are malformed") from None
        if params.algorithm != "argon2id":
            raise IntegrityError(f"keyring uses unknown KDF {params.algorithm!r}")
        return params


# RFC 9106 second recommended option: 64 MiB, t=3, p=4.
PROFILES = {
    "default": KdfParams(memory_cost=64 * 1024, iterations=3, lanes=4),
    "test": KdfParams(memory_cost=64, iterations=1, lanes=1),
}


def derive_passphrase_key(passphrase: str, salt: bytes, params: KdfParams) -> bytearray:
    """The key a keyring is sealed under, in a buffer the caller wipes once
    used. The passphrase (a ``str``) and its UTF-8 ``bytes`` cannot be wiped."""
    key = bytearray(32)
    Argon2id(
        salt=salt,
        length=32,
        iterations=params.iterations,
        lanes=params.lanes,
        memory_cost=params.memory_cost,
    ).derive_into(passphrase.encode("utf-8"), key)
    return key
