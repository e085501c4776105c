"""Base64 helpers for keys stored in JSON."""

from __future__ import annotations

import base64
import binascii

from archive_manager.errors import IntegrityError


def b64e(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64d(text: str, what: str = "stored value") -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, AttributeError):
        raise IntegrityError(f"{what} is not valid base64") from None
