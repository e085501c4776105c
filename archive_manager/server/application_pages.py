"""The admission pages (issue 18): the queue of applications, the
application form, and each application's page with its documents, its
history of submissions and opinions, and the forms for what the user may do
at the step it waits for. Each route: who asks, one library call as their
session, a template. An action answers 303 back to the application's page
with a notice, or the form again with the error at its HTTP status."""

from __future__ import annotations

from typing import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from archive_manager import admission, standing
from archive_manager.admission import APPLICATION_FIELDS, REQUIRED, Attachment
from archive_manager.errors import AccessDenied, ArchiveError, UsageError
from archive_manager.policy.admission import SETTABLE
from archive_manager.server.pages import _lang, _page, _signin_of, error_page, render
from archive_manager.server.texts import TEXTS
from archive_manager.server.uploads import Form, read_form
from archive_manager.server.web import as_session, csrf_ok, csrf_refused, origin_of, status_of

VIEWS = {"mine": {"mine": True}, "open": {}, "all": {"closed": True}}
NEW_ROWS, ACTION_ROWS = 3, 2  # attachment rows (a type, one or more files) on the forms
MAX_FIELDS = 60
MAX_FIELD_BYTES = 64 << 10  # an opinion of standing.MAX_OPINION characters fits
MULTILINE = ("business_scope", "needs")
# the shipped profile's fields in the order of the paper form (the signed policy keeps them sorted by key)
FORM_ORDER = ("legal_rep", "credit_code", "address", "contact", "phone", "email")
NOTICES = ("started", "approve", "return", "reject", "admitted", "resubmit")


# --- what the forms offer ----------------------------------------------------------


def _departments(request: Request, session) -> dict[str, str]:
    depts = session.policy.departments
    return {d: (depts.get(d, d) if _lang(request) == "zh" else d) for d in depts}


def _field_lists(session) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(profile fields, application fields) an application gives, as (key, display name)."""
    declared = session.policy.profile or {}
    rank = {k: i for i, k in enumerate(FORM_ORDER)}
    keys = sorted((k for k in declared if k not in SETTABLE), key=lambda k: rank.get(k, len(rank)))
    return [(k, declared[k].name) for k in keys], list(APPLICATION_FIELDS.items())


def _attach_types(session) -> list[tuple[str, str]]:
    """Types the user may attach, with their names (the library's rule)."""
    return [(t, session.policy.types[t].name) for t in admission.attachable_types(session)]


def _form_context(request: Request, session) -> dict:
    profile, application = _field_lists(session)
    return dict(profile_fields=profile, application_fields=application, required=REQUIRED, multiline=MULTILINE,
                attach_types=_attach_types(session), department_names=_departments(request, session))


# --- reading a posted form ---------------------------------------------------------


async def _read(request: Request) -> Form:
    """A posted form, multipart (with files) or url-encoded (without)."""
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        async with request.form(max_files=0, max_fields=MAX_FIELDS, max_part_size=MAX_FIELD_BYTES) as posted:
            return Form(fields={k: str(v) for k, v in posted.items()})
    return await read_form(request, request.app.state.home.settings.inbox_max_mb << 20, MAX_FIELDS, MAX_FIELD_BYTES)


def _attachments(form: Form) -> list[Attachment]:
    """The files of the form's attachment rows, each with its row's type
    (``file_N`` goes with ``type_N``); a file input left empty is skipped."""
    out = []
    for (name, upload), field in zip(form.files, form.file_fields):
        if not name and upload.size == 0:
            continue
        row = field.removeprefix("file_")
        doc_type = form.fields.get(f"type_{row}", "").strip()
        if not field.startswith("file_") or not doc_type:
            raise UsageError(f"choose the type of the attachment {name}", hint="each file goes with its row's type")
        out.append(Attachment(name, upload.content(), doc_type))
    return out


def _given(form: Form, keys) -> dict[str, str]:
    return {k: form.fields[k] for k in keys if form.fields.get(k, "").strip()}


async def _post(request: Request, act: Callable, done: Callable[[object], Response],
                again: Callable[[ArchiveError, dict], Response]) -> Response:
    """A posted form of a signed-in user: the CSRF token checked, then
    ``act(session, form)`` (one library call) in a worker thread; ``done(result)``
    answers, or ``again(error, fields)`` shows the form again."""
    signin = _signin_of(request)
    if signin is None:
        return RedirectResponse("/signin", 303)
    try:
        form = await _read(request)
    except ArchiveError as exc:
        return error_page(request, exc, signin)
    try:
        if not csrf_ok(request, signin, form.fields.get("csrf")):
            return error_page(request, csrf_refused(), signin)
        origin = origin_of(request, request.app.state.settings)
        try:
            result = await run_in_threadpool(as_session, signin, origin, lambda session: act(session, form))
        except ArchiveError as exc:
            return await run_in_threadpool(again, exc, form.fields)
    finally:
        form.close()
    return await run_in_threadpool(done, result)


def _done(request: Request, app_id: str, notice: str, warnings: list[str]) -> Response:
    """303 to the application's page with the notice; with warnings (the
    search index lags) the page itself, showing them."""
    if not warnings:
        return RedirectResponse(f"/applications/{app_id}?done={notice}", 303)
    return application_page(request, app_id=app_id, notice=notice, warnings=warnings)


# --- the queue -----------------------------------------------------------------


def applications_page(request: Request) -> Response:
    view = request.query_params.get("view", "mine")
    view = view if view in VIEWS else "mine"
    return _page(request, lambda signin, session: render(
        request, "applications.html", signin=signin, view=view, views=list(VIEWS),
        rows=admission.list_applications(session, **VIEWS[view]), department_names=_departments(request, session)))


# --- a new application -------------------------------------------------------------


def _applicant_or_refused(request: Request, signin, session) -> Response | None:
    chain = standing.admission_policy(session)
    try:
        standing.acting_department(session, chain.applicants, "start an application")
    except AccessDenied as exc:
        names = "、".join(_departments(request, session).get(d, d) for d in chain.applicants)
        return render(request, "error.html", 403, signin=signin, message=TEXTS[_lang(request)]["apply_only"].format(
            depts=names), hint=exc.message)
    return None


def application_form(request: Request, values: dict | None = None, error: ArchiveError | None = None) -> Response:
    def build(signin, session) -> Response:
        refused = _applicant_or_refused(request, signin, session)
        if refused is not None:
            return refused
        return render(request, "application_new.html", status_of(error) if error else 200, signin=signin,
                      values=values or {}, error=error, rows=range(1, NEW_ROWS + 1), **_form_context(request, session))

    return _page(request, build)


async def application_submit(request: Request) -> Response:
    def act(session, form: Form):
        profile, application = _field_lists(session)
        return admission.start_application(session, form.fields.get("name", ""),
                                           _given(form, [k for k, _ in profile + application]), _attachments(form))

    return await _post(request, act, lambda r: _done(request, r.application, "started", r.warnings),
                       lambda exc, fields: application_form(request, fields, exc))


# --- an application --------------------------------------------------------------------


def _step_marks(view) -> list[dict]:
    """Each step with where the application stands at it: done, current,
    returned, rejected or todo."""
    ids = [s["id"] for s in view.steps]
    rejected = next((h.step for h in reversed(view.history) if h.decision == "reject"), None)
    at = {"admitted": len(ids), "rejected": ids.index(rejected) if rejected in ids else len(ids)}.get(
        view.state, ids.index(view.waiting) if view.waiting in ids else len(ids))
    here = {"pending": "current", "returned": "returned", "rejected": "rejected"}.get(view.state, "done")
    return [{**s, "mark": "done" if i < at else here if i == at else "todo"} for i, s in enumerate(view.steps)]


def _view_context(request: Request, session, view) -> dict:
    """What the application's page shows beside the view: the steps marked,
    the fields in the form's order with their names, what the waiting step
    sets, the names of classes, types and departments."""
    profile = session.policy.profile or {}
    given, asked = _field_lists(session)
    names = {**dict(given + asked), **{k: f.name for k, f in profile.items()}}
    order = [*(k for k in names if k in view.fields), *(k for k in view.fields if k not in names)]
    waiting = next((s for s in view.steps if s["id"] == view.waiting), None)
    classes = session.policy.classes
    return dict(steps=_step_marks(view), fields=[(k, names.get(k, k), view.fields[k]) for k in order],
                field_names=names, settable=SETTABLE,
                sets=list(waiting.get("sets", [])) if waiting and view.state == "pending" else [],
                rating_choices=profile["credit_rating"].choices if "credit_rating" in profile else (),
                class_names={c: classes[c].name for c in classes},
                type_names={c: t.name for c, t in session.policy.types.items()},
                held=set(session.classes_for("read")), **_form_context(request, session))


def application_page(request: Request, app_id: str | None = None, notice: str | None = None,
                     warnings: list[str] | None = None, error: ArchiveError | None = None,
                     values: dict | None = None) -> Response:
    app_id = app_id or request.path_params["app_id"]
    notice = notice or request.query_params.get("done")

    def build(signin, session) -> Response:
        view = admission.show_application(session, app_id)
        return render(request, "application.html", status_of(error) if error else 200, signin=signin, app=view,
                      notice=notice if notice in NOTICES else None, warnings=warnings or [], error=error,
                      values=values or {}, rows=range(1, ACTION_ROWS + 1), **_view_context(request, session, view))

    return _page(request, build)


async def review_submit(request: Request) -> Response:
    app_id = request.path_params["app_id"]

    def act(session, form: Form):
        f = form.fields
        decision = f.get("decision", "")
        sets = _given(form, SETTABLE) if decision == "approve" else {}  # terms typed before a return are not given
        return admission.review_application(session, app_id, decision, f.get("opinion", ""), sets,
                                            _attachments(form))

    return await _post(request, act, lambda r: _done(request, app_id, "admitted" if r.state == "admitted"
                                                     else r.decision, r.warnings),
                       lambda exc, fields: application_page(request, app_id, error=exc, values=fields))


async def resubmit_submit(request: Request) -> Response:
    app_id = request.path_params["app_id"]

    def act(session, form: Form):
        profile, application = _field_lists(session)
        recorded = admission.show_application(session, app_id).fields  # what was submitted: only changes go again
        changed = {k: form.fields[k].strip() for k, _ in profile + application
                   if k in form.fields and form.fields[k].strip() != recorded.get(k, "")}
        return admission.resubmit_application(session, app_id, changed, _attachments(form),
                                              form.fields.get("note", "").strip() or None)

    return await _post(request, act, lambda r: _done(request, app_id, "resubmit", r.warnings),
                       lambda exc, fields: application_page(request, app_id, error=exc, values=fields))


ROUTES = [
    Route("/applications", applications_page, methods=["GET"]),
    Route("/applications/new", application_form, methods=["GET"]),
    Route("/applications/new", application_submit, methods=["POST"]),
    Route("/applications/{app_id}", application_page, methods=["GET"]),
    Route("/applications/{app_id}/review", review_submit, methods=["POST"]),
    Route("/applications/{app_id}/resubmit", resubmit_submit, methods=["POST"]),
]
