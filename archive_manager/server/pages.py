"""The web pages: sign-in, search, clients and dossiers, documents, account.
Each route is a few lines: who asks, one library call as their session, a
template. Errors are shown on the page with the matching HTTP status."""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

import anyio

from archive_manager import accounts, clients, documents, reading, receivables, searching, standing
from archive_manager.errors import AccessDenied, ArchiveError, AuthenticationError
from archive_manager.index.snippets import MARK_CLOSE, MARK_OPEN
from archive_manager.policy.admission import RECORD_CLASS
from starlette.concurrency import run_in_threadpool

from archive_manager.server.api import FIRST_PASSPHRASE_PAGE, SET_PASSPHRASE, check_credentials, file_uploads, \
    sign_in, version_of
from archive_manager.server.uploads import read_form
from archive_manager.server.content import content_response
from archive_manager.server.texts import TEXTS, language_of
from archive_manager.server.web import FORM_CSRF_COOKIE, SESSION_COOKIE, Throttled, as_session, csrf_ok, csrf_refused, \
    origin_of, over_tls, status_of, token_of

PAGE_SIZE = 10
FIRST_COOKIE = "am_first"  # the sign-in of a user who must set their own passphrase (that page's path only)


def _lang(request: Request) -> str:
    return language_of(request.query_params.get("lang"), request.cookies.get("lang"))


def render(request: Request, template: str, status: int = 200, signin=None, **context) -> Response:
    lang = _lang(request)
    response = request.app.state.templates.TemplateResponse(
        request, template, {"t": TEXTS[lang], "lang": lang, "signin": signin, "nav": _nav(signin), **context},
        status_code=status)
    if request.query_params.get("lang") == lang:
        response.set_cookie("lang", lang, max_age=365 * 86400, samesite="strict", httponly=True,
                            secure=over_tls(request, request.app.state.settings))
    return response


def _nav(signin) -> dict:
    """The links the signed-in user's departments have a use for: the
    admission queue (with the admission chain, to readers of the client's
    record), the application form (to the applying departments), paperwork
    (``generate``), receivables (readers of the ledger's class), the audit
    desk (``audit``) and the admin desk (``admin``); search, clients and
    upload only to those who may (an auditor holds no class)."""
    if signin is None:
        return {}
    policy, depts = signin.session.policy, signin.session.departments
    chain = policy.admission
    return {"search": policy.allows(depts, "search"),
            "clients": bool(policy.classes_for(depts, "read")),
            "upload": policy.allows(depts, "file"),
            "applications": chain is not None and policy.allows(depts, "read", RECORD_CLASS),
            "apply": chain is not None and any(d in chain.applicants for d in depts),
            "paperwork": policy.allows(depts, "generate"),
            "ledger": policy.allows(depts, "read", receivables.LEDGER_CLASS),
            "audit": policy.allows(depts, "audit"),
            "admin": policy.allows(depts, "admin")}


def landing(signin) -> str:
    """Where a signed-in user starts: search, else the first desk they have a use for."""
    nav = _nav(signin)
    for flag, path in (("search", "/search"), ("audit", "/audit"), ("admin", "/admin"), ("clients", "/clients")):
        if nav.get(flag):
            return path
    return "/account"


def error_page(request: Request, exc: ArchiveError, signin=None) -> Response:
    return render(request, "error.html", status_of(exc), signin=signin, message=exc.message, hint=exc.hint)


def _signin_of(request: Request):
    token, _ = token_of(request)
    return request.app.state.signins.get(token)


def _page(request: Request, build) -> Response:
    """A page for a signed-in user: ``build(signin, session) -> Response``."""
    signin = _signin_of(request)
    if signin is None:
        return RedirectResponse("/signin", 303)
    try:
        return as_session(signin, origin_of(request, request.app.state.settings),
                          lambda session: build(signin, session))
    except ArchiveError as exc:
        return error_page(request, exc, signin)


# --- sign-in ----------------------------------------------------------------------


def signin_form(request: Request, message: str | None = None, status: int = 200, user: str | None = None) -> Response:
    signin = _signin_of(request)
    if signin is not None and message is None:
        return RedirectResponse(landing(signin), 303)
    token = secrets.token_urlsafe(32)
    notice = _t(request, "口令已设置。请用新口令登录。", "Your passphrase is set. Sign in with it.") \
        if request.query_params.get("done") == "passphrase" and message is None else None
    response = render(request, "signin.html", status, form_csrf=token, message=message, user=user, notice=notice)
    response.set_cookie(FORM_CSRF_COOKIE, token, httponly=True, samesite="strict", path="/signin",
                        secure=over_tls(request, request.app.state.settings))
    return response


async def signin_submit(request: Request) -> Response:
    async with request.form(max_files=0, max_fields=10, max_part_size=4096) as form:
        user, passphrase, csrf = (str(form.get(k) or "") for k in ("user", "passphrase", "csrf"))
    expected = request.cookies.get(FORM_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(csrf.encode(), expected.encode()):
        return signin_form(request, _t(request, "表单已过期，请重新登录。", "The form expired; please sign in again."),
                           403, user)
    if not user or not passphrase:
        return signin_form(request, _t(request, "请输入用户名和口令。", "Give your user name and passphrase."), 400, user)
    try:
        check_credentials(user, passphrase)
    except ArchiveError:
        return signin_form(request, _t(request, "用户名或口令不正确。", "Wrong user name or passphrase."), 400)
    # a user with the one-time passphrase an administrator gave is signed in
    # apart, for the page that sets their own (nothing else finds that sign-in)
    first = await run_in_threadpool(request.app.state.home.passphrase_to_set, user)
    try:
        signin = await sign_in(request, user, passphrase, first=first)
    except ArchiveError as exc:
        if exc.code == SET_PASSPHRASE:
            return signin_form(request, _t(request, "这是管理员给的一次性口令：请重新登录以设置您自己的口令。",
                                           "This is the one-time passphrase an administrator gave: sign in again "
                                           "to set your own."), 403, user)
        if isinstance(exc, Throttled):
            msg = _t(request, f"登录失败次数过多，请 {exc.retry_after} 秒后再试。",
                     f"Too many failed sign-ins; try again in {exc.retry_after} seconds.")
            response = signin_form(request, msg, 429, user)
            response.headers["retry-after"] = str(exc.retry_after)
            return response
        if isinstance(exc, AuthenticationError):
            return signin_form(request, _t(request, "用户名或口令不正确。", "Wrong user name or passphrase."), 401, user)
        if exc.code == "policy-unsigned":  # every sign-in, the admins' too, until the edit is signed or undone
            return signin_form(request, _t(request, "策略文件已被修改但尚未由管理员签名，暂时无法登录。请联系系统管理员："
                                                    "签名（archive policy sync）或撤销修改后即可登录。",
                                           "The policy files were changed and not yet signed by an administrator: "
                                           "nobody can sign in until the change is signed (archive policy sync) or "
                                           "undone."), status_of(exc), user)
        return signin_form(request, exc.message, status_of(exc), user)
    settings = request.app.state.settings
    if first:
        response = RedirectResponse(FIRST_PASSPHRASE_PAGE, 303)
        response.set_cookie(FIRST_COOKIE, signin.token, httponly=True, samesite="strict", path=FIRST_PASSPHRASE_PAGE,
                            secure=over_tls(request, settings), max_age=int(settings.absolute_seconds))
        response.delete_cookie(FORM_CSRF_COOKIE, path="/signin")
        return response
    response = RedirectResponse(landing(signin), 303)
    response.set_cookie(SESSION_COOKIE, signin.token, httponly=True, samesite="strict", path="/",
                        secure=over_tls(request, settings), max_age=int(settings.absolute_seconds))
    response.delete_cookie(FORM_CSRF_COOKIE, path="/signin")
    return response


async def signout(request: Request) -> Response:
    async with request.form(max_files=0, max_fields=10, max_part_size=4096) as form:
        csrf = str(form.get("csrf") or "")
    token, _ = token_of(request)
    signin = request.app.state.signins.get(token)
    if signin is not None:
        if not csrf_ok(request, signin, csrf):
            return error_page(request, csrf_refused(), signin)
        request.app.state.signins.sign_out(token, origin=origin_of(request, request.app.state.settings))
    response = RedirectResponse("/signin", 303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _t(request: Request, zh: str, en: str) -> str:
    return zh if _lang(request) == "zh" else en


# --- search -----------------------------------------------------------------------


def snippet_parts(snippet: str) -> list[tuple[str, bool]]:
    """The snippet's text as (part, marked) pairs: the template escapes each
    part and wraps the marked ones in <mark>."""
    parts, marked, rest = [], False, snippet
    while rest:
        head, sep, rest = rest.partition(MARK_CLOSE if marked else MARK_OPEN)
        if head:
            parts.append((head, marked))
        if not sep:
            break
        marked = not marked
    return parts


def _type_names(session) -> dict[str, str]:
    return {code: t.name for code, t in session.policy.types.items()}


def search_page(request: Request) -> Response:
    q = request.query_params
    text, client, doc_type, since, until = (q.get(k, "").strip() for k in ("q", "client", "type", "since", "until"))
    try:
        page = max(1, int(q.get("page", "1")))
    except ValueError:
        page = 1

    def build(signin, session) -> Response:
        names = _type_names(session)
        readable = session.classes_for("search")
        choices = sorted((code, names[code]) for code, t in session.policy.types.items()
                         if t.access_class in readable)
        context = dict(q=text, client=client, doc_type=doc_type, since=since, until=until, page=page,
                       type_names=names,
                       type_choices=choices, client_choices=_client_choices(session), result=None, has_next=False,
                       page_url=lambda n: "/search?" + urlencode({"q": text, "client": client, "type": doc_type,
                                                                  "since": since, "until": until, "page": n}))
        if not (text or client or doc_type or since or until):
            return render(request, "search.html", signin=signin, **context)
        try:
            result = searching.search(session, text, client=client or None, doc_type=doc_type or None,
                                      since=since or None, until=until or None, limit=page * PAGE_SIZE + 1)
        except ArchiveError as exc:
            return render(request, "search.html", status_of(exc), signin=signin, message=exc.message, **context)
        hits = result.hits[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]
        context.update(result={"total": int(result.total), "exact": getattr(result.total, "exact", True),
                               "hits": [{**h.__dict__, "parts": snippet_parts(h.snippet)} for h in hits]},
                       has_next=len(result.hits) > page * PAGE_SIZE)
        return render(request, "search.html", signin=signin, **context)

    return _page(request, build)


def _client_choices(session) -> list[dict]:
    try:
        return clients.list_clients(session)
    except AccessDenied:
        return []


# --- clients and documents ---------------------------------------------------------------


def clients_page(request: Request) -> Response:
    return _page(request, lambda signin, session: render(request, "clients.html", signin=signin,
                                                         clients=clients.list_clients(session)))


def client_page(request: Request) -> Response:
    code = request.path_params["code"]

    def build(signin, session) -> Response:
        fields = {name: f.name for name, f in session.policy.profile.items()}
        dossier = clients.dossier(session, code)
        try:  # the status and credit terms, from the client's signed decisions
            where, standing_error = standing.read_standing(session, code), None
        except ArchiveError as exc:  # shown where the status would be; the dossier is still the dossier
            where, standing_error = None, exc
        owed = receivables.exposure(session, code) \
            if where is not None and receivables.LEDGER_CLASS in session.classes_for("read") else None
        return render(request, "client.html", signin=signin, dossier=dossier, standing=where,
                      standing_error=standing_error, exposure=owed, type_names=_type_names(session),
                      field_names=fields)

    return _page(request, build)


def document_page(request: Request) -> Response:
    doc_id = request.path_params["doc_id"]

    def build(signin, session) -> Response:
        doc = documents.show_document(session, doc_id)
        name = str(doc.versions[-1].original_name).lower()
        preview = next((kind for kind, ends in PREVIEWS.items() if name.endswith(ends)), None)
        return render(request, "document.html", signin=signin, doc=doc.summary, versions=doc.versions,
                      type_names=_type_names(session), preview=preview,
                      can_export=session.policy.allows(session.departments, "export", doc.summary.access_class))

    return _page(request, build)


PREVIEWS = {"pdf": (".pdf",), "image": (".png", ".jpg", ".jpeg", ".gif", ".webp"), "text": (".txt",)}


def _content(request: Request, export: bool) -> Response:
    doc_id = request.path_params["doc_id"]
    signin = _signin_of(request)
    if signin is None:
        return RedirectResponse("/signin", 303)
    try:
        version = version_of(request)
        content = as_session(signin, origin_of(request, request.app.state.settings),
                             lambda session: reading.open_content(session, doc_id, version, export=export))
    except ArchiveError as exc:
        return error_page(request, exc, signin)
    return content_response(content, inline=not export)


def view_content(request: Request) -> Response:
    """Shown in the browser (``view``: needs read); what could run is an attachment."""
    return _content(request, export=False)


def download_content(request: Request) -> Response:
    """A copy to keep (``export``: needs the export right)."""
    return _content(request, export=True)


def account_page(request: Request, message: str | None = None, done: bool = False, status: int = 200) -> Response:
    def build(signin, session) -> Response:
        me = clients.whoami(session)
        classes, depts = session.policy.classes, session.policy.departments
        return render(request, "account.html", status, signin=signin, me=me, message=message, done=done,
                      class_names=[classes[c].name if c in classes else c for c in me.classes],
                      department_names=[depts.get(d, d) if _lang(request) == "zh" else d for d in me.departments])

    return _page(request, build)


MIN_NEW_PASSPHRASE = 10


async def change_passphrase(request: Request) -> Response:
    """A new passphrase for the signed-in user: the current one is asked
    again (a sign-in left open is not enough), under the sign-in throttle."""
    async with request.form(max_files=0, max_fields=10, max_part_size=4096) as form:
        current, new, again, csrf = (str(form.get(k) or "") for k in ("current", "new", "again", "csrf"))
    signin = _signin_of(request)
    if signin is None:
        return RedirectResponse("/signin", 303)
    if not csrf_ok(request, signin, csrf):
        return error_page(request, csrf_refused(), signin)
    state = request.app.state
    if len(new) < MIN_NEW_PASSPHRASE or new != again:
        return account_page(request, _t(request, f"新口令至少 {MIN_NEW_PASSPHRASE} 个字符，且两次输入必须一致。",
                                        f"The new passphrase needs at least {MIN_NEW_PASSPHRASE} characters, "
                                        "typed the same twice."), status=400)
    try:
        check_credentials(signin.user, current)
        check_credentials(signin.user, new)
    except ArchiveError:
        return account_page(request, _t(request, "口令含有无效字符。", "The passphrase is not valid text."),
                            status=400)
    origin = origin_of(request, state.settings)
    wait = state.throttle.attempt(signin.user, origin.address)
    if wait > 0:
        return account_page(request, _t(request, f"尝试次数过多，请 {int(wait) + 1} 秒后再试。",
                                        f"Too many attempts; try again in {int(wait) + 1} seconds."), status=429)
    try:
        await run_in_threadpool(state.home.unlock, signin.user, current, origin)  # recorded if wrong
    except ArchiveError:
        await anyio.sleep(state.failed_delay)
        return account_page(request, _t(request, "当前口令不正确。", "The current passphrase is wrong."), status=401)
    state.throttle.succeeded(signin.user, origin.address)
    try:
        await run_in_threadpool(as_session, signin, origin, lambda session: accounts.change_passphrase(session, new))
    except ArchiveError as exc:
        return account_page(request, exc.message, status=status_of(exc))
    return account_page(request, _t(request, "口令已更改。下次登录请使用新口令。",
                                    "Your passphrase is changed; use the new one from your next sign-in."), done=True)


def _filing_choices(session) -> list[tuple[str, str]]:
    fileable = session.classes_for("file")
    return sorted((code, t.name) for code, t in session.policy.types.items() if t.access_class in fileable)


def upload_form(request: Request) -> Response:
    return _page(request, lambda signin, session: render(
        request, "upload.html", signin=signin, client_choices=_client_choices(session),
        type_choices=_filing_choices(session), results=None, fields={}))


async def upload_submit(request: Request) -> Response:
    signin = _signin_of(request)
    if signin is None:
        return RedirectResponse("/signin", 303)
    try:
        form = await read_form(request, request.app.state.home.settings.inbox_max_mb << 20)
    except ArchiveError as exc:
        return error_page(request, exc, signin)
    try:
        if not csrf_ok(request, signin, form.fields.get("csrf")):
            return error_page(request, csrf_refused(), signin)
        status, message = 201, None
        try:
            results = await run_in_threadpool(file_uploads, request, signin, form)
        except ArchiveError as exc:
            status, message, results = status_of(exc), exc.message, None
    finally:
        form.close()

    def build(signin, session) -> Response:
        return render(request, "upload.html", status, signin=signin, client_choices=_client_choices(session),
                      type_choices=_filing_choices(session), results=results, message=message,
                      fields=form.fields, type_names=_type_names(session))
    return _page(request, build)


def home_page(request: Request) -> Response:
    signin = _signin_of(request)
    return RedirectResponse(landing(signin) if signin is not None else "/signin", 303)


def not_found(request: Request, exc) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": {"kind": "not found", "message": "no such API route", "hint": None}}, 404)
    return render(request, "error.html", 404, message=_t(request, "没有这个页面。", "No such page."), hint=None)


ROUTES = [
    Route("/", home_page),
    Route("/signin", signin_form, methods=["GET"]),
    Route("/signin", signin_submit, methods=["POST"]),
    Route("/signout", signout, methods=["POST"]),
    Route("/search", search_page),
    Route("/clients", clients_page),
    Route("/clients/{code}", client_page),
    Route("/documents/{doc_id}", document_page),
    Route("/documents/{doc_id}/view", view_content),
    Route("/documents/{doc_id}/download", download_content),
    Route("/account", account_page),
    Route("/account/passphrase", change_passphrase, methods=["POST"]),
    Route("/upload", upload_form, methods=["GET"]),
    Route("/upload", upload_submit, methods=["POST"]),
]
