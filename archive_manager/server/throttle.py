"""Failed sign-ins, limited per user name and per address: up to ``allowed``
failures in ``window`` seconds, then no attempt for ``window`` seconds, the
wait doubling with each further lock-out (up to ``longest``). A refused
attempt costs no key derivation, so a flood of wrong passphrases costs the
server little; a success clears the user name's and the address's record."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class _Record:
    failures: list[float] = field(default_factory=list)
    locked_until: float = 0.0
    lockouts: int = 0


class Throttle:
    def __init__(self, allowed: int = 5, window: float = 60.0, longest: float = 3600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.allowed, self.window, self.longest, self.clock = allowed, window, longest, clock
        self._records: dict[tuple[str, str], _Record] = {}
        self._lock = threading.Lock()

    def wait(self, user: str, address: str) -> float:
        """Seconds before ``user`` may try again from ``address`` (0: now)."""
        now = self.clock()
        with self._lock:
            waits = [r.locked_until - now for r in self._get(user, address) if r is not None]
        return max([0.0, *waits])

    def failed(self, user: str, address: str) -> None:
        now = self.clock()
        with self._lock:
            for key in (("user", user), ("address", address)):
                r = self._records.setdefault(key, _Record())
                r.failures = [t for t in r.failures if t > now - self.window] + [now]
                if len(r.failures) >= self.allowed:
                    r.locked_until = now + min(self.longest, self.window * (2 ** r.lockouts))
                    r.lockouts += 1
                    r.failures = []
            if len(self._records) > 100_000:  # a flood of names: forget what is over
                self._records = {k: r for k, r in self._records.items() if r.locked_until > now or r.failures}

    def succeeded(self, user: str, address: str) -> None:
        with self._lock:
            self._records.pop(("user", user), None)
            self._records.pop(("address", address), None)

    def _get(self, user: str, address: str) -> list[_Record | None]:
        return [self._records.get(("user", user)), self._records.get(("address", address))]
