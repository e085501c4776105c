"""What every route shares: who is asking (the sign-in of the request's
cookie or bearer token, the client's address), running a library call as
that sign-in's session, the archive's errors as HTTP statuses, and the
headers every response carries."""

from __future__ import annotations

import hmac
import ipaddress
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import AsyncIterator, Callable, TypeVar

import anyio
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request

from archive_manager.errors import (AccessDenied, ArchiveError, AuthenticationError, ConflictError, NotFound,
                                    PolicyError, UsageError)
from archive_manager.reporting import Origin
from archive_manager.server.signins import SignIn

T = TypeVar("T")

SESSION_COOKIE = "am_session"
FORM_CSRF_COOKIE = "am_signin"  # the sign-in form's own CSRF token (there is no session yet)
CSRF_HEADER = "x-csrf-token"
BAD_FORM = (HTTPException, MultiPartException)  # what reading a form over its limits, or malformed, raises
RENDER_POLL = 0.02  # seconds between looks for a free render slot
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

HEADERS = {
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "cross-origin-opener-policy": "same-origin",
}


@dataclass(frozen=True)
class ServerSettings:
    idle_seconds: float = 15 * 60
    absolute_seconds: float = 8 * 3600
    trusted_proxies: tuple[str, ...] = ()  # addresses whose X-Forwarded-For is believed
    secure_cookies: bool = False  # served over TLS (directly or behind a TLS proxy)
    time_zone: str = "Asia/Shanghai"  # times on the pages (the audit trail keeps UTC)
    # documents rendered at once (paperwork, its preview, the overdue batch): rendering is Python work under
    # one interpreter lock, so twenty at once would starve every search; the rest wait their turn
    render_slots: int = 1


class Throttled(AuthenticationError):
    """A sign-in refused by the throttle, before any key derivation: 429."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many failed sign-ins", hint=f"try again in {retry_after} seconds")
        self.retry_after = retry_after


def csrf_refused(what: str = "form") -> AccessDenied:
    """The refusal of a state-changing ``form`` (its hidden field) or
    ``request`` (the header) without the sign-in's CSRF token."""
    hint = "reload the page and try again" if what == "form" else \
        f"send the page's token in the {CSRF_HEADER} header"
    return AccessDenied(f"the {what}'s CSRF token is missing or wrong", hint=hint)


def status_of(exc: ArchiveError) -> int:
    if isinstance(exc, Throttled):
        return 429
    if isinstance(exc, AuthenticationError):
        return 401
    if isinstance(exc, AccessDenied):
        return 403
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, ConflictError):
        return 409
    if isinstance(exc, (UsageError, PolicyError)):
        return 400
    return 500  # integrity failures and anything unforeseen


def error_body(exc: ArchiveError) -> dict:
    return {"error": {"kind": exc.kind, "message": exc.message, "hint": exc.hint}}


def client_address(request: Request, trusted: tuple[str, ...]) -> str:
    """The client's address: the peer's, or, from a trusted proxy, the last
    address of X-Forwarded-For that is not one of the trusted proxies."""
    peer = request.client.host if request.client else "unknown"
    if peer not in trusted:
        return peer
    forwarded = [a.strip() for a in request.headers.get("x-forwarded-for", "").split(",") if a.strip()]
    for address in reversed(forwarded):
        if address in trusted:
            continue
        try:
            return str(ipaddress.ip_address(address))
        except ValueError:
            return peer  # a malformed header: the proxy's own address, not a claim
    return peer


def over_tls(request: Request, settings: ServerSettings) -> bool:
    """Whether the browser reached us over HTTPS: served with TLS here, or a
    trusted proxy says so (X-Forwarded-Proto)."""
    if settings.secure_cookies or request.url.scheme == "https":
        return True
    peer = request.client.host if request.client else ""
    return peer in settings.trusted_proxies and request.headers.get("x-forwarded-proto", "").lower() == "https"


def origin_of(request: Request, settings: ServerSettings) -> Origin:
    return Origin(client_address(request, settings.trusted_proxies), request.headers.get("user-agent", ""))


def token_of(request: Request) -> tuple[str | None, bool]:
    """(token, from a cookie): the bearer token of an API client, else the session cookie."""
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None, False
    return request.cookies.get(SESSION_COOKIE), True


def csrf_ok(request: Request, signin: SignIn, form_value: str | None = None) -> bool:
    """Whether a state-changing request carries the sign-in's CSRF token; a
    request without it (a forged cross-site post, or a stale page) is
    recorded as a denied ``csrf`` event of the user before the caller refuses it."""
    given = request.headers.get(CSRF_HEADER) or form_value or ""
    if hmac.compare_digest(given.encode(), signin.csrf.encode()):
        return True
    _record_forgery(request, signin)
    return False


def _record_forgery(request: Request, signin: SignIn) -> None:
    # a sign-in serves one request at a time; a busy one is waited for briefly, never for long on the event loop
    if not signin.lock.acquire(timeout=2.0):
        return
    try:
        session = signin.session
        if session.ended:
            return
        session.origin = origin_of(request, request.app.state.settings)
        try:
            with session.recorded("csrf", method=request.method, path=request.url.path[:200]):
                raise csrf_refused()
        except ArchiveError:
            pass
        finally:
            session.origin = None
    finally:
        signin.lock.release()


@asynccontextmanager
async def render_slot(request: Request) -> AsyncIterator[None]:
    """One of the server's render slots (see :attr:`ServerSettings.render_slots`),
    waited for on the event loop: a request waiting its turn holds no worker
    thread, so the searches of everyone else still find one."""
    gate = request.app.state.render_slots
    while not gate.acquire(blocking=False):
        await anyio.sleep(RENDER_POLL)
    try:
        yield
    finally:
        gate.release()


def as_session(signin: SignIn, origin: Origin, call: Callable[..., T]) -> T:
    """``call(session)`` as ``signin``'s session, its events carrying ``origin``;
    one request of a sign-in at a time."""
    with signin.lock:
        if signin.session.ended:
            raise AuthenticationError("you were signed out", hint="sign in again")
        signin.session.origin = origin
        try:
            return call(signin.session)
        finally:
            signin.session.origin = None


__all__ = ["BAD_FORM", "ServerSettings", "Throttled", "as_session", "render_slot", "client_address", "csrf_ok", "csrf_refused", "error_body",
           "origin_of", "status_of", "token_of"]
