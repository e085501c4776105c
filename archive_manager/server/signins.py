"""Who is signed in to the server: each sign-in holds its user's unlocked
session in this process only, behind a random 256-bit id (the cookie or the
bearer token), for at most ``absolute`` seconds and until ``idle`` seconds
without a request. Sign-out, a timeout or the server's end overwrites the
keys the sign-in unlocked and drops them (:meth:`ArchiveHome.sign_out`, then
:meth:`Session.end`, which says what Python cannot overwrite), even if the
``logout`` event cannot be written. Nothing of a sign-in is ever written to
disk.

The ids are kept hashed, so looking one up compares digests, not the secret.
A sign-in serves one request at a time (:attr:`SignIn.lock`): a session's
state is not shared between threads.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from archive_manager.home import ArchiveHome
from archive_manager.reporting import Origin
from archive_manager.session import Session


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


@dataclass
class SignIn:
    token: str
    csrf: str
    session: Session
    started: float
    last_seen: float
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def user(self) -> str:
        return self.session.user

    def expires(self, idle: float, absolute: float) -> float:
        """When it ends if no request comes (monotonic clock)."""
        return min(self.last_seen + idle, self.started + absolute)


class SignIns:
    def __init__(self, home: ArchiveHome, idle: float, absolute: float,
                 clock: Callable[[], float] = time.monotonic,
                 token: Callable[[], str] = lambda: secrets.token_urlsafe(32)) -> None:
        self.home = home
        self.idle = idle
        self.absolute = absolute
        self.clock = clock
        self._token = token
        self._by_digest: dict[bytes, SignIn] = {}
        self._lock = threading.Lock()

    def sign_in(self, user: str, passphrase: str, origin: Origin) -> SignIn:
        """Unlock ``user``'s keys here; raises the library's error (recorded)."""
        session = self.home.sign_in(user, passphrase, origin)
        session.origin = None
        now = self.clock()
        signin = SignIn(self._token(), self._token(), session, now, now)
        with self._lock:
            self._by_digest[_digest(signin.token)] = signin
        return signin

    def get(self, token: str | None) -> SignIn | None:
        """The live sign-in of ``token``, its idle timer restarted; None if
        unknown or over (then signed out, recorded as idle or expired)."""
        if not token:
            return None
        now = self.clock()
        with self._lock:
            signin = self._by_digest.get(_digest(token))
            if signin is None:
                return None
            why = self._over(signin, now)
            if why is None:
                signin.last_seen = now
                return signin
            del self._by_digest[_digest(token)]
        self._end(signin, why)
        return None

    def _over(self, signin: SignIn, now: float) -> str | None:
        if now >= signin.started + self.absolute:
            return "expired"
        if now >= signin.last_seen + self.idle:
            return "idle"
        return None

    def sign_out(self, token: str, why: str = "signed out", origin: Origin | None = None) -> bool:
        """End ``token``'s sign-in (``origin``: the request that asked)."""
        with self._lock:
            signin = self._by_digest.pop(_digest(token), None)
        if signin is None:
            return False
        self._end(signin, why, origin)
        return True

    def sweep(self) -> int:
        """Sign out every sign-in over its time; how many."""
        now = self.clock()
        with self._lock:
            over = [(d, s, why) for d, s in self._by_digest.items() if (why := self._over(s, now)) is not None]
            for d, _, _ in over:
                del self._by_digest[d]
        for _, signin, why in over:
            self._end(signin, why)
        return len(over)

    def close_all(self, why: str = "server stopped") -> None:
        with self._lock:
            everyone, self._by_digest = list(self._by_digest.values()), {}
        for signin in everyone:
            self._end(signin, why)

    def _end(self, signin: SignIn, why: str, origin: Origin | None = None) -> None:
        with signin.lock:  # after the request it may be serving
            signin.session.origin = origin
            try:
                self.home.sign_out(signin.session, why)
            except Exception:  # noqa: BLE001 - the keys are wiped even if the event cannot be written
                if not signin.session.ended:
                    signin.session.end()

    def users(self) -> list[str]:
        """Who is signed in (a user once per sign-in)."""
        with self._lock:
            return sorted(s.user for s in self._by_digest.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_digest)
