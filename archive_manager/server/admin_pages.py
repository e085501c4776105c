"""The admin desk (archive administrators): users, the policy and its signed
sync, the letterhead; the landing page links the upkeep pages (the inbox's
quarantine, the watcher, the archive's health: ``upkeep_pages``). And the
page where a user who came with a one-time passphrase sets their own.

Each route: who asks, one library call as their session, a template. Only
administrators: the library refuses everyone else (``admin``), and records
the refusal; the page says so with 403. Signing shows the difference first
and signs only what was shown (its digest travels with the form)."""

from __future__ import annotations

from typing import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from archive_manager import accounts
from archive_manager.errors import AccessDenied, ArchiveError, UsageError
from archive_manager.policy.company import FIELDS as LETTERHEAD_FIELDS
from archive_manager.server.api import FIRST_PASSPHRASE_PAGE, check_credentials, first_signins
from archive_manager.server.pages import FIRST_COOKIE, MIN_NEW_PASSPHRASE, _lang, _page, _signin_of, error_page, \
    render
from archive_manager.server.texts import TEXTS
from archive_manager.server.web import BAD_FORM, as_session, csrf_ok, csrf_refused, origin_of, over_tls, status_of

MAX_FIELDS = 60
MAX_FIELD_BYTES = 8 << 10


def _t(request: Request) -> dict[str, str]:
    return TEXTS[_lang(request)]


def _refused(request: Request, signin, exc: ArchiveError) -> Response:
    """The admin pages' answer to a library error: 403 with the desk's own
    words for a refusal, else the error page."""
    if isinstance(exc, AccessDenied):
        return render(request, "error.html", 403, signin=signin, message=_t(request)["admin_only"], hint=exc.message)
    return error_page(request, exc, signin)


def _admin_page(request: Request, build: Callable) -> Response:
    """``_page`` with the desk's refusal."""
    def guarded(signin, session) -> Response:
        try:
            return build(signin, session)
        except ArchiveError as exc:
            return _refused(request, signin, exc)
    return _page(request, guarded)


async def _form(request: Request) -> dict[str, list[str]]:
    async with request.form(max_files=0, max_fields=MAX_FIELDS, max_part_size=MAX_FIELD_BYTES) as posted:
        out: dict[str, list[str]] = {}
        for key, value in posted.multi_items():
            out.setdefault(key, []).append(str(value))
        return out


def _one(form: dict[str, list[str]], key: str) -> str:
    return (form.get(key) or [""])[0]


async def _post(request: Request, act: Callable, done: Callable[[object], Response],
                again: Callable[[ArchiveError, dict], Response]) -> Response:
    """A posted form of a signed-in administrator: CSRF checked, then
    ``act(session, form)`` (one library call) in a worker thread; ``done``
    answers, or ``again(error, form)`` shows the form again with the error."""
    signin = _signin_of(request)
    if signin is None:
        return RedirectResponse("/signin", 303)
    try:
        form = await _form(request)
    except ArchiveError as exc:
        return error_page(request, exc, signin)
    except BAD_FORM:  # a form over its limits or malformed: nothing was acted on
        return error_page(request, UsageError("the form could not be read"), signin)
    if not csrf_ok(request, signin, _one(form, "csrf")):
        return error_page(request, csrf_refused(), signin)
    origin = origin_of(request, request.app.state.settings)
    try:
        result = await run_in_threadpool(as_session, signin, origin, lambda session: act(session, form))
    except AccessDenied as exc:
        return _refused(request, signin, exc)
    except ArchiveError as exc:
        return await run_in_threadpool(again, exc, form)
    return await run_in_threadpool(done, result)


def _department_names(request: Request, session) -> dict[str, str]:
    depts = session.policy.departments
    return {d: (name if _lang(request) == "zh" else d) for d, name in depts.items()}


# --- the landing page --------------------------------------------------------------


def admin_home(request: Request) -> Response:
    return _admin_page(request, lambda signin, session: render(
        request, "admin.html", signin=signin, pending=bool(accounts.policy_diff(session))))


# --- users -------------------------------------------------------------------------


def _users(request: Request, signin, session, status: int = 200, **context) -> Response:
    rows = accounts.list_users(session, require_admin=True)
    return render(request, "admin_users.html", status, signin=signin, rows=rows,
                  department_names=_department_names(request, session), fields=context.pop("fields", {}),
                  **context)


def users_page(request: Request) -> Response:
    return _admin_page(request, lambda signin, session: _users(request, signin, session))


async def add_user(request: Request) -> Response:
    signin = _signin_of(request)

    def act(session, form):
        given = _one(form, "passphrase")
        if given:
            if len(given) < MIN_NEW_PASSPHRASE:
                raise UsageError(f"the one-time passphrase needs at least {MIN_NEW_PASSPHRASE} characters",
                                 hint="or leave it empty to have one made")
            check_credentials(_one(form, "user") or "x", given)
        passphrase = given or accounts.one_time_passphrase(session)
        added = accounts.add_user(session, _one(form, "user").strip(), form.get("departments", []), passphrase,
                                  _one(form, "display_name"), one_time=True)
        return added, passphrase, session

    def done(result) -> Response:
        added, passphrase, session = result
        response = render(request, "admin_user_added.html", signin=signin, added=added, passphrase=passphrase,
                          department_names=_department_names(request, session))
        response.headers["cache-control"] = "no-store"  # the passphrase is shown once
        return response

    def again(exc: ArchiveError, form) -> Response:
        fields = {"user": _one(form, "user"), "display_name": _one(form, "display_name"),
                  "departments": form.get("departments", [])}
        return as_session(signin, origin_of(request, request.app.state.settings), lambda session: _users(
            request, signin, session, status_of(exc), message=exc.message, fields=fields))

    return await _post(request, act, done, again)


def _user(request: Request, signin, session, name: str, status: int = 200, **context) -> Response:
    info = accounts.show_user(session, name, require_admin=True)
    return render(request, "admin_user.html", status, signin=signin, info=info,
                  department_names=_department_names(request, session), **context)


def user_page(request: Request) -> Response:
    name = request.path_params["name"]
    done = {"name": "admin_saved", "same": "admin_nothing_changed"}.get(request.query_params.get("done", ""))
    return _admin_page(request, lambda signin, session: _user(
        request, signin, session, name, notice=_t(request)[done] if done else None))


async def _user_post(request: Request, act: Callable, done: Callable) -> Response:
    name = request.path_params["name"]
    signin = _signin_of(request)

    def again(exc: ArchiveError, form) -> Response:
        try:
            return as_session(signin, origin_of(request, request.app.state.settings), lambda session: _user(
                request, signin, session, name, status_of(exc), message=exc.message))
        except ArchiveError as shown:
            return _refused(request, signin, shown)

    return await _post(request, lambda session, form: act(session, name, form), done, again)


async def edit_user(request: Request) -> Response:
    name = request.path_params["name"]
    return await _user_post(
        request, lambda session, name, form: accounts.edit_user(session, name, display_name=_one(form, "display_name")),
        lambda r: RedirectResponse(f"/admin/users/{name}?done={'name' if r.changed else 'same'}", 303))


async def user_departments(request: Request) -> Response:
    name = request.path_params["name"]
    signin = _signin_of(request)

    def done(r) -> Response:
        if not r.changed:
            return RedirectResponse(f"/admin/users/{name}?done=same", 303)
        t = _t(request)
        notice = t["admin_dept_done"].format(user=r.user, depts="、".join(r.departments),
                                             sealed=", ".join(r.sealed) or "-", rotated=", ".join(r.rotated) or "-")
        return as_session(signin, origin_of(request, request.app.state.settings), lambda session: _user(
            request, signin, session, name, notice=notice, warnings=r.notes))

    return await _user_post(
        request, lambda session, name, form: accounts.set_departments(session, name, form.get("departments", [])),
        done)


def remove_page(request: Request) -> Response:
    name = request.path_params["name"]
    return _admin_page(request, lambda signin, session: render(
        request, "admin_user_remove.html", signin=signin, info=accounts.show_user(session, name, require_admin=True)))


async def remove_user(request: Request) -> Response:
    signin = _signin_of(request)

    def done(r) -> Response:
        notice = _t(request)["admin_removed_done"].format(user=r.user, rotated=", ".join(r.rotated) or "-")
        return as_session(signin, origin_of(request, request.app.state.settings), lambda session: _users(
            request, signin, session, notice=notice, warnings=r.notes))

    return await _user_post(request, lambda session, name, form: accounts.remove_user(session, name), done)


# --- the policy --------------------------------------------------------------------


def _policy(request: Request, signin, session, status: int = 200, **context) -> Response:
    diff = accounts.policy_diff(session)
    return render(request, "admin_policy.html", status, signin=signin, diff=diff, expect=accounts.diff_digest(diff),
                  policy=session.policy, signed=session.signed_policy,
                  department_names=_department_names(request, session), **context)


def policy_page(request: Request) -> Response:
    return _admin_page(request, lambda signin, session: _policy(request, signin, session))


async def sign_policy(request: Request) -> Response:
    signin = _signin_of(request)

    def shown(**context):
        return as_session(signin, origin_of(request, request.app.state.settings),
                          lambda session: _policy(request, signin, session, **context))

    def done(r) -> Response:
        notice = _t(request)["admin_signed"].format(
            digest=r.policy[:16], sealed=", ".join(r.sealed) or "-", revoked=", ".join(r.revoked) or "-",
            rotated=", ".join(r.rotated) or "-")
        return shown(notice=notice, signed_diff=r.diff, warnings=r.notes)

    def again(exc: ArchiveError, form) -> Response:
        try:
            return shown(status=status_of(exc), message=exc.message)
        except ArchiveError as shown_exc:
            return _refused(request, signin, shown_exc)

    return await _post(request, lambda session, form: accounts.sync_policy(session, _one(form, "expect") or "-"),
                       done, again)


# --- the letterhead ----------------------------------------------------------------


def _values(form: dict[str, list[str]], fields: list[str]) -> dict[str, str]:
    return {f: _one(form, f"f_{f}") for f in fields}


def _letterhead(request: Request, signin, session, status: int = 200, **context) -> Response:
    head = accounts.letterhead(session)
    values = context.pop("values", None)
    return render(request, "admin_letterhead.html", status, signin=signin, head=head,
                  values=values if values is not None else head.values, **context)


def letterhead_page(request: Request) -> Response:
    return _admin_page(request, lambda signin, session: _letterhead(request, signin, session))


def _posted_fields(form: dict[str, list[str]]) -> list[str]:
    return [*LETTERHEAD_FIELDS, *sorted(k[2:] for k in form if k.startswith("f_") and k[2:] not in LETTERHEAD_FIELDS)]


async def preview_letterhead(request: Request) -> Response:
    signin = _signin_of(request)
    fields: list[str] = []

    def act(session, form):
        fields[:] = _posted_fields(form)
        values = _values(form, fields)
        diff = accounts.letterhead_diff(session, values)
        return _letterhead(request, signin, session, values=values, diff=diff, expect=accounts.diff_digest(diff),
                           previewed=True)

    def again(exc: ArchiveError, form) -> Response:
        values = _values(form, _posted_fields(form))
        return as_session(signin, origin_of(request, request.app.state.settings), lambda session: _letterhead(
            request, signin, session, status_of(exc), values=values, message=exc.message))

    return await _post(request, act, lambda response: response, again)


async def sign_letterhead(request: Request) -> Response:
    signin = _signin_of(request)

    def act(session, form):
        return accounts.set_letterhead(session, _values(form, _posted_fields(form)), _one(form, "expect") or "-")

    def done(r) -> Response:
        notice = _t(request)["admin_signed"].format(
            digest=r.policy[:16], sealed=", ".join(r.sealed) or "-", revoked=", ".join(r.revoked) or "-",
            rotated=", ".join(r.rotated) or "-")
        return as_session(signin, origin_of(request, request.app.state.settings), lambda session: _letterhead(
            request, signin, session, notice=notice, signed_diff=r.diff, warnings=r.notes))

    def again(exc: ArchiveError, form) -> Response:
        values = _values(form, _posted_fields(form))
        return as_session(signin, origin_of(request, request.app.state.settings), lambda session: _letterhead(
            request, signin, session, status_of(exc), values=values, message=exc.message))

    return await _post(request, act, done, again)


# --- a user's first sign-in: their own passphrase -----------------------------------


def _first_of(request: Request):
    return first_signins(request.app.state).get(request.cookies.get(FIRST_COOKIE))


def first_passphrase_page(request: Request, message: str | None = None, status: int = 200) -> Response:
    signin = _first_of(request)
    if signin is None:
        return RedirectResponse("/signin", 303)
    response = render(request, "admin_first_signin.html", status, first=signin, message=message,
                      min_length=MIN_NEW_PASSPHRASE)
    response.headers["cache-control"] = "no-store"
    return response


async def first_passphrase_submit(request: Request) -> Response:
    signin = _first_of(request)
    if signin is None:
        return RedirectResponse("/signin", 303)
    try:
        form = await _form(request)
    except BAD_FORM:  # a form over its limits or malformed: nothing was acted on
        return first_passphrase_page(request, "the form could not be read", 400)
    if not csrf_ok(request, signin, _one(form, "csrf")):
        return error_page(request, csrf_refused())
    new, again = _one(form, "new"), _one(form, "again")
    t = _t(request)
    if len(new) < MIN_NEW_PASSPHRASE or new != again:
        return first_passphrase_page(request, t["admin_first_rule"], 400)
    try:
        check_credentials(signin.user, new)
    except ArchiveError as exc:
        return first_passphrase_page(request, exc.message, 400)
    state = request.app.state
    origin = origin_of(request, state.settings)
    try:
        await run_in_threadpool(as_session, signin, origin, lambda session: accounts.change_passphrase(session, new))
    except ArchiveError as exc:
        return first_passphrase_page(request, exc.message, status_of(exc))
    first_signins(state).sign_out(signin.token, "passphrase set", origin)
    response = RedirectResponse("/signin?done=passphrase", 303)
    response.delete_cookie(FIRST_COOKIE, path=FIRST_PASSPHRASE_PAGE,
                           secure=over_tls(request, state.settings), httponly=True, samesite="strict")
    return response


ROUTES: list[Route] = [
    Route("/admin", admin_home),
    Route("/admin/users", users_page, methods=["GET"]),
    Route("/admin/users", add_user, methods=["POST"]),
    Route("/admin/users/{name}", user_page, methods=["GET"]),
    Route("/admin/users/{name}/name", edit_user, methods=["POST"]),
    Route("/admin/users/{name}/departments", user_departments, methods=["POST"]),
    Route("/admin/users/{name}/remove", remove_page, methods=["GET"]),
    Route("/admin/users/{name}/remove", remove_user, methods=["POST"]),
    Route("/admin/policy", policy_page, methods=["GET"]),
    Route("/admin/policy", sign_policy, methods=["POST"]),
    Route("/admin/letterhead", letterhead_page, methods=["GET"]),
    Route("/admin/letterhead", preview_letterhead, methods=["POST"]),
    Route("/admin/letterhead/sign", sign_letterhead, methods=["POST"]),
    Route(FIRST_PASSPHRASE_PAGE, first_passphrase_page, methods=["GET"]),
    Route(FIRST_PASSPHRASE_PAGE, first_passphrase_submit, methods=["POST"]),
]
