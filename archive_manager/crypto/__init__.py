"""Keys and sealed formats. The only package that touches cryptographic primitives."""

from archive_manager.crypto.kdf import KdfParams
from archive_manager.crypto.keyring import PublicIdentity, UnlockedKeyring, create_keyring
from archive_manager.crypto.sealed import (
    decrypt_stream,
    encrypt_stream,
    open_bytes,
    read_header,
    seal_bytes,
)
from archive_manager.crypto.primitives import (
    hpke_open,
    hpke_seal,
    kem_generate,
    kem_public_bytes,
    keyed_name,
    unwrap_key,
    wipe,
    wrap_key,
)

__all__ = [
    "KdfParams",
    "PublicIdentity",
    "UnlockedKeyring",
    "create_keyring",
    "decrypt_stream",
    "encrypt_stream",
    "hpke_open",
    "hpke_seal",
    "kem_generate",
    "kem_public_bytes",
    "keyed_name",
    "open_bytes",
    "read_header",
    "seal_bytes",
    "unwrap_key",
    "wipe",
    "wrap_key",
]
