"""The JSON API under ``/api/v1/``: the same operations and access rules as
the pages, the CLI's ``--json`` shapes. API clients sign in with
``POST /api/v1/session`` and send ``Authorization: Bearer <token>``."""

from __future__ import annotations

import json
import threading
import time

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from archive_manager import clients, documents, filing, reading, searching
from archive_manager.errors import ArchiveError, AuthenticationError, UsageError
from archive_manager.reporting import Origin
from archive_manager.server.content import content_response
from archive_manager.server.signins import SignIn, SignIns, _digest
from archive_manager.server.uploads import Form, read_form
from archive_manager.server.web import Throttled, as_session, csrf_ok, csrf_refused, error_body, origin_of, status_of, \
    token_of

FAILED_SIGNIN_DELAY = 1.0  # seconds a failed sign-in waits before its answer (not holding a worker thread)
MAX_SIGNIN_BODY = 4096  # bytes of a sign-in request
MAX_USER_NAME = 64
MAX_PASSPHRASE = 1024
SIGNIN_FAILED = "wrong user name or passphrase"  # the same answer for every reason: no names to enumerate
SET_PASSPHRASE = "set-passphrase"  # the code of a sign-in with a one-time passphrase (home.login)
FIRST_PASSPHRASE_PAGE = "/account/first-passphrase"


def check_credentials(user: str, passphrase: str) -> None:
    """What a sign-in may carry: text that is valid UTF-8 (no lone
    surrogates), no control characters, of bounded length."""
    for what, value, limit in (("user name", user, MAX_USER_NAME), ("passphrase", passphrase, MAX_PASSPHRASE)):
        if len(value) > limit:
            raise UsageError(f"the {what} is too long (at most {limit} characters)")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise UsageError(f"the {what} is not valid text") from None
        if what == "user name" and any(not c.isprintable() for c in value):
            raise UsageError("the user name is not valid text")


def _error(exc: ArchiveError) -> JSONResponse:
    return JSONResponse(error_body(exc), status_of(exc))


class FirstSignIns(SignIns):
    """Sign-ins of users who came with the one-time passphrase an
    administrator gave: kept apart from the others, so that no page or API
    route finds them; only the page that sets their own passphrase does."""

    def sign_in(self, user: str, passphrase: str, origin: Origin) -> SignIn:
        session = self.home.sign_in(user, passphrase, origin, passphrase_change=True)
        session.origin = None
        if not getattr(session, "passphrase_to_set", False):  # the record changed since it was looked at
            self.home.sign_out(session, None)
            raise AuthenticationError("the sign-in did not go through", hint="sign in again")
        now = self.clock()
        signin = SignIn(self._token(), self._token(), session, now, now)
        with self._lock:
            self._by_digest[_digest(signin.token)] = signin
        return signin


_FIRST_LOCK = threading.Lock()


def first_signins(state) -> FirstSignIns:
    """The app's sign-ins of users who must set their own passphrase first."""
    with _FIRST_LOCK:
        if not hasattr(state, "first_signins"):
            main = state.signins
            state.first_signins = FirstSignIns(state.home, main.idle, main.absolute, main.clock)
        return state.first_signins


async def sign_in(request: Request, user: str, passphrase: str, *, first: bool = False):
    """The sign-in shared by the API and the sign-in page: the throttle, the
    key derivation in a worker thread, a delayed answer on failure. Returns
    the SignIn, or raises ArchiveError (:class:`Throttled` when throttled).
    ``first``: a user with a one-time passphrase, signed in only to set their
    own (:func:`first_signins`)."""
    state = request.app.state
    check_credentials(user, passphrase)
    origin = origin_of(request, state.settings)
    wait = state.throttle.attempt(user, origin.address)
    if wait > 0:
        exc = Throttled(int(wait) + 1)
        await run_in_threadpool(_record_throttled, state.home, user, origin, exc)
        raise exc
    try:
        signins = first_signins(state) if first else state.signins
        signin = await run_in_threadpool(signins.sign_in, user, passphrase, origin)
    except ArchiveError as exc:
        if exc.code == SET_PASSPHRASE:  # the passphrase was right: not a failure to throttle or delay
            state.throttle.succeeded(user, origin.address)
            raise
        await anyio.sleep(state.failed_delay)  # the attempt is counted already
        raise
    state.throttle.succeeded(user, origin.address)
    return signin


def _record_throttled(home, user: str, origin, exc: ArchiveError) -> None:
    try:  # a denial with the address, like any failed sign-in
        home.refuse_login(user, exc, origin)
    except ArchiveError:
        pass


async def _small_body(request: Request, limit: int) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise UsageError(f"the request is too large (at most {limit} bytes)")
    return bytes(body)


async def post_session(request: Request) -> Response:
    try:
        body = json.loads(await _small_body(request, MAX_SIGNIN_BODY))
    except UsageError as exc:
        return _error(exc)
    except (ValueError, RecursionError):
        return _error(UsageError("the body must be JSON: {\"user\": ..., \"passphrase\": ...}"))
    user, passphrase = (body.get("user"), body.get("passphrase")) if isinstance(body, dict) else (None, None)
    if not isinstance(user, str) or not isinstance(passphrase, str) or not user:
        return _error(UsageError("give \"user\" and \"passphrase\" as strings"))
    try:
        signin = await sign_in(request, user, passphrase)
    except ArchiveError as exc:
        if isinstance(exc, Throttled):
            return JSONResponse(error_body(exc), 429, headers={"retry-after": str(exc.retry_after)})
        if isinstance(exc, AuthenticationError):  # unknown, removed or wrong: one answer (the trail says which)
            return _error(AuthenticationError(SIGNIN_FAILED))
        if exc.code == SET_PASSPHRASE:  # no token: the user sets their own passphrase in the browser first
            body = error_body(exc)
            body["error"].update(code=SET_PASSPHRASE, hint="set your own passphrase on the web page "
                                                           f"{FIRST_PASSPHRASE_PAGE} (sign in there), then sign in here")
            return JSONResponse(body, 403)
        return _error(exc)
    state = request.app.state
    left = signin.expires(state.signins.idle, state.signins.absolute) - state.signins.clock()
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + left))
    return JSONResponse({"token": signin.token, "expires": expires, "user": signin.user,
                         "idle_seconds": int(state.signins.idle)}, 201)


def delete_session(request: Request) -> Response:
    token, from_cookie = token_of(request)
    signin = request.app.state.signins.get(token)
    if signin is None:
        return _error(AuthenticationError("not signed in", hint="POST /api/v1/session first"))
    if from_cookie and not csrf_ok(request, signin):
        return _error(csrf_refused("request"))
    request.app.state.signins.sign_out(token, origin=origin_of(request, request.app.state.settings))
    return Response(status_code=204)


def _signed_in(request: Request):
    token, from_cookie = token_of(request)
    signin = request.app.state.signins.get(token)
    if signin is None:
        raise AuthenticationError("not signed in, or the sign-in has ended", hint="POST /api/v1/session")
    return signin


def _run(request: Request, call) -> Response:
    try:
        signin = _signed_in(request)
        return JSONResponse(as_session(signin, origin_of(request, request.app.state.settings), call))
    except ArchiveError as exc:
        return _error(exc)


def _limit(value: str | None) -> int:
    if value is None or value == "":
        return searching.DEFAULT_LIMIT
    try:
        n = int(value)
    except ValueError:
        raise UsageError(f"limit must be a whole number, not {value!r}") from None
    if not 1 <= n <= 1000:
        raise UsageError("limit must be between 1 and 1000")
    return n


def get_search(request: Request) -> Response:
    q = request.query_params

    def call(session):
        return searching.search(session, q.get("q", ""), client=q.get("client") or None,
                                doc_type=q.get("type") or None, since=q.get("since") or None,
                                until=q.get("until") or None, limit=_limit(q.get("limit"))).to_dict()
    return _run(request, call)


def get_clients(request: Request) -> Response:
    return _run(request, lambda session: [c.to_dict() for c in clients.list_clients(session)])


def get_client(request: Request) -> Response:
    code = request.path_params["code"]
    return _run(request, lambda session: clients.show_client(session, code).to_dict())


def get_document(request: Request) -> Response:
    doc_id = request.path_params["doc_id"]
    return _run(request, lambda session: documents.show_document(session, doc_id).to_dict())


def version_of(request: Request) -> int | None:
    value = request.query_params.get("version")
    if value in (None, ""):
        return None
    if not value.isdigit() or int(value) < 1:
        raise UsageError(f"version must be a positive whole number, not {value!r}")
    return int(value)


def get_content(request: Request) -> Response:
    """The document's content as an attachment: an ``export`` (needs the export right)."""
    doc_id = request.path_params["doc_id"]
    try:
        signin = _signed_in(request)
        version = version_of(request)
        content = as_session(signin, origin_of(request, request.app.state.settings),
                             lambda session: reading.open_content(session, doc_id, version, export=True))
    except ArchiveError as exc:
        return _error(exc)
    return content_response(content, inline=False)


def filed_dict(name: str, filed) -> dict:
    return {"file_name": name, "doc_id": filed.doc_id, "version": filed.version, "duplicate": filed.duplicate,
            "new_version": filed.new_version, "text": filed.text_status, "text_reason": filed.text_reason,
            "warnings": list(filed.warnings)}


def file_uploads(request: Request, signin, form: Form) -> list[dict]:
    """File each uploaded file of ``form`` as ``signin``'s session (the
    fields: client, type, title (one file only), date, number, replaces)."""
    f = form.fields
    if not form.files:
        raise UsageError("no file in the upload")
    if not f.get("client") or not f.get("type"):
        raise UsageError("give the client and the document type")
    title = f.get("title") or None
    if title and len(form.files) > 1:
        title = None  # each file keeps its own name as its title

    def call(session) -> list[dict]:
        return [filed_dict(name, filing.file_upload(session, upload, name, f["client"], f["type"], title=title,
                                                    date=f.get("date") or None, number=f.get("number") or None,
                                                    replaces=f.get("replaces") or None))
                for name, upload in form.files]
    return as_session(signin, origin_of(request, request.app.state.settings), call)


async def post_documents(request: Request) -> Response:
    """File one or more uploaded files (multipart/form-data)."""
    try:
        token, from_cookie = token_of(request)
        signin = _signed_in(request)
        if from_cookie and not csrf_ok(request, signin):
            raise csrf_refused("request")
        form = await read_form(request, request.app.state.home.settings.inbox_max_mb << 20)
        try:
            filed = await run_in_threadpool(file_uploads, request, signin, form)
        finally:
            form.close()
    except ArchiveError as exc:
        return _error(exc)
    return JSONResponse(filed[0] if len(filed) == 1 else filed, 201)


def get_openapi(request: Request) -> Response:
    return JSONResponse(OPENAPI)


def _op(summary: str, params: tuple[str, ...] = (), auth: bool = True) -> dict:
    op = {"summary": summary, "responses": {"200": {"description": "ok"}, "401": {"description": "not signed in"},
                                            "403": {"description": "access denied"}}}
    if params:
        op["parameters"] = [{"name": p, "in": "path" if p in ("code", "doc_id") else "query",
                             "required": p in ("code", "doc_id"), "schema": {"type": "string"}} for p in params]
    if auth:
        op["security"] = [{"bearer": []}]
    return op


OPENAPI = {
    "openapi": "3.1.0",
    "info": {"title": "archive-manager", "version": "1"},
    "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    "paths": {
        "/api/v1/session": {
            "post": {**_op("Sign in: {user, passphrase} -> {token, expires}", auth=False),
                     "requestBody": {"required": True, "content": {"application/json": {"schema": {
                         "type": "object", "required": ["user", "passphrase"],
                         "properties": {"user": {"type": "string"}, "passphrase": {"type": "string"}}}}}}},
            "delete": _op("Sign out: the server drops this sign-in's keys"),
        },
        "/api/v1/search": {"get": _op("Search (the CLI's query language)",
                                      ("q", "client", "type", "since", "until", "limit"))},
        "/api/v1/clients": {"get": _op("The clients")},
        "/api/v1/clients/{code}": {"get": _op("A client's profile and document counts per class", ("code",))},
        "/api/v1/documents": {"post": {**_op("File an upload (multipart: file, client, type, title, date, number)"),
                                       "requestBody": {"required": True, "content": {"multipart/form-data": {
                                           "schema": {"type": "object", "required": ["file", "client", "type"],
                                                      "properties": {"file": {"type": "string", "format": "binary"},
                                                                     **{k: {"type": "string"} for k in (
                                                                         "client", "type", "title", "date", "number",
                                                                         "replaces")}}}}}}}},
        "/api/v1/documents/{doc_id}": {"get": _op("A document's metadata and versions", ("doc_id",))},
        "/api/v1/documents/{doc_id}/content": {"get": _op("A version's content, as an attachment (export)",
                                                          ("doc_id", "version"))},
    },
}

ROUTES = [
    Route("/api/v1/session", post_session, methods=["POST"]),
    Route("/api/v1/session", delete_session, methods=["DELETE"]),
    Route("/api/v1/search", get_search),
    Route("/api/v1/clients", get_clients),
    Route("/api/v1/clients/{code}", get_client),
    Route("/api/v1/documents", post_documents, methods=["POST"]),
    Route("/api/v1/documents/{doc_id}", get_document),
    Route("/api/v1/documents/{doc_id}/content", get_content),
    Route("/openapi.json", get_openapi),
]
