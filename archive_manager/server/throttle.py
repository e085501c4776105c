"""Sign-in attempts, limited per user name and per address: up to ``allowed``
in ``window`` seconds that did not succeed, then no attempt for ``window``
seconds, the wait doubling with each further lock-out (up to ``longest``).
An attempt is counted when it starts, so guesses sent at once cannot all
slip through; a success clears the user name's and the address's record. A
refused attempt costs no key derivation, so a flood costs the server little."""

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

    def attempt(self, user: str, address: str) -> float:
        """Reserve one attempt for ``user`` from ``address``: 0 if it may go
        ahead, counted as a failure until :meth:`succeeded` says otherwise (so
        that guesses sent at once cannot all pass before the first fails);
        else the seconds to wait, nothing counted."""
        now = self.clock()
        with self._lock:
            waits = [r.locked_until - now for r in self._get(user, address) if r is not None]
            wait = max([0.0, *waits])
            if wait <= 0:
                self._count(user, address, now)
            return wait

    def _count(self, user: str, address: str, now: float) -> None:
        for key in (("user", user), ("address", address)):
            r = self._records.setdefault(key, _Record())
            r.failures = [t for t in r.failures if t > now - self.window] + [now]
            if len(r.failures) >= self.allowed:  # this attempt goes ahead; the next ones wait
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
