"""Injectable time and randomness.

Library code never calls ``datetime.now`` or ``os.urandom`` directly; it asks
the :class:`Runtime` it was given, so tests can fix both.
"""

from __future__ import annotations

import base64
import os
import socket
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Runtime:
    now: Callable[[], datetime] = field(default=_utc_now)
    random_bytes: Callable[[int], bytes] = field(default=os.urandom)
    host: str = field(default_factory=socket.gethostname)  # recorded in audit events

    def timestamp(self) -> str:
        """The current UTC time as ISO 8601 with a trailing Z."""
        return self.now().astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    def token(self, nbytes: int = 10) -> str:
        """A random identifier in lower-case base32, safe for file names."""
        return base64.b32encode(self.random_bytes(nbytes)).decode("ascii").rstrip("=").lower()
