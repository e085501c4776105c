"""The paperwork pages (legal, credit): the catalog's templates, a form per
template with the values the catalog declares as given, a preview of the
rendered document (its pages as images when LibreOffice is present, else its
text), and generation filed back into the dossier, then the filed document
with its downloads (for holders of ``export``) and, for a contract
amendment, its approval. Each route: who asks, one library call as their
session, a template."""

from __future__ import annotations

import base64
import re

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from archive_manager import amendments, clients, paperwork, reading
from archive_manager.errors import AccessDenied, ArchiveError, UsageError
from archive_manager.generation import pdf as pdfs
from archive_manager.server.content import disposition
from archive_manager.server.pages import _lang, _page, _signin_of, error_page, render
from archive_manager.server.texts import TEXTS
from archive_manager.server.web import BAD_FORM, as_session, csrf_ok, csrf_refused, origin_of, render_slot, status_of

MAX_FIELDS = 400
MAX_FIELD_BYTES = 32 << 10
LIST_ROWS = 3  # rows of a list's table without script (the script adds and removes rows)
LONG_TEXT = ("business.need", "extra_terms", "credit.terms")
LETTERHEAD_PAGE = "/admin/letterhead"
ROW_FIELD = re.compile(r"^l:(?P<name>[^:]+):(?P<row>\d{1,3}):(?P<field>[^:]+)$")
NOTICES = ("generated", "approve", "reject")


# --- what the form posts -------------------------------------------------------------


def _assign(into: dict, path: str, value) -> None:
    *parents, last = path.split(".")
    for part in parents:
        into = into.setdefault(part, {})
    into[last] = value


def given_of(fields: dict[str, str], template: paperwork.PaperworkTemplate) -> dict:
    """The given values of a posted form: ``v:NAME`` for a value, ``l:NAME:ROW:FIELD``
    for a list's rows (a row left empty is dropped), ``p:NAME`` for a profile
    value the client's profile lacks. Empty values are not given."""
    given: dict = {}
    for value in template.given:
        if value.type != "list":
            text = fields.get(f"v:{value.name}", "").strip()
            if text:
                _assign(given, value.name, text)
            continue
        rows: dict[int, dict] = {}
        for key, text in fields.items():
            m = ROW_FIELD.match(key)
            if m and m["name"] == value.name and m["field"] in dict(value.fields):
                rows.setdefault(int(m["row"]), {})[m["field"]] = text.strip()
        kept = [rows[n] for n in sorted(rows) if any(rows[n].values())]
        if kept:
            _assign(given, value.name, [{f: row.get(f, "") for f, _ in value.fields} for row in kept])
    for key, text in fields.items():
        if key.startswith("p:") and text.strip():
            _assign(given, key[2:], text.strip())
    return given


def _level(fields: dict[str, str]) -> int | None:
    text = fields.get("level", "").strip()
    if not text:
        return None
    if text not in ("1", "2", "3"):
        raise UsageError("the dunning level must be 1, 2 or 3", code="bad-level")
    return int(text)


def list_rows(fields: dict[str, str], name: str) -> list[dict[str, str]]:
    """The rows of list ``name`` as posted (to show the form again), at least :data:`LIST_ROWS`."""
    rows: dict[int, dict] = {}
    for key, text in fields.items():
        m = ROW_FIELD.match(key)
        if m and m["name"] == name:
            rows.setdefault(int(m["row"]), {})[m["field"]] = text
    kept = [rows[n] for n in sorted(rows)]
    return kept + [{}] * max(0, LIST_ROWS - len(kept))


# --- the pages --------------------------------------------------------------------------


def _texts(request: Request) -> dict:
    return TEXTS[_lang(request)]


def _refused(request: Request, signin, exc: AccessDenied) -> Response:
    t = _texts(request)
    message = t["pw_refused"] if exc.code != "template-rights" else t["pw_refused_template"].format(
        needs="、".join(exc.data.get("lacking", [])))
    return render(request, "error.html", 403, signin=signin, message=message, hint=exc.message)


def templates_page(request: Request) -> Response:
    def build(signin, session) -> Response:
        try:
            rows = paperwork.templates(session)
        except AccessDenied as exc:
            return _refused(request, signin, exc)
        pending = []
        chain = session.policy.admission
        if chain is not None and chain.amendment_approver in session.departments:
            pending = amendments.list_amendments(session, pending=True)
        names = {code: t.name for code, t in session.policy.types.items()}
        words, classes = TEXTS[_lang(request)], session.policy.classes
        needs = {tpl.name: [words[f"pw_right_{action}"].format(cls=classes[c].name if c in classes else c)
                            for action, c in (r.split(" ", 1) for r in tpl.lacking)] for tpl in rows}
        return render(request, "paperwork.html", signin=signin, templates=rows, pending=pending, type_names=names,
                      needs=needs)

    return _page(request, build)


def _contracts(session, template) -> list:
    """The contracts the user may read, for a template made for a contract."""
    if not template.contract:
        return []
    return reading.list_documents(session, None, "contract")


def _profile_gaps(session, name: str, error: ArchiveError | None) -> list[str]:
    """Profile values the error names as missing: the form asks for them."""
    if error is None or not isinstance(error.data.get("missing"), list):
        return []
    spec = paperwork.spec_of(session, name)
    return [m for m in error.data["missing"] if (v := spec.variable(m)) is not None and v.source == "profile"]


def form_page(request: Request, fields: dict | None = None, error: ArchiveError | None = None,
              preview: paperwork.Preview | None = None) -> Response:
    name = request.path_params["template"]
    fields = fields or {}

    def build(signin, session) -> Response:
        try:
            template = paperwork.template(session, name)
        except AccessDenied as exc:
            return _refused(request, signin, exc)
        missing = error.data.get("missing", []) if error is not None else []
        missing = [m for m in missing if isinstance(m, str)] if isinstance(missing, list) else []
        others = list(dict.fromkeys("contract" if m.startswith("contract.") else m for m in missing
                                    if not m.startswith("company.")))
        status = status_of(error) if error is not None else 200
        return render(request, "paperwork_form.html", status, signin=signin, tpl=template, fields=fields,
                      error=error, clients=clients.list_clients(session), contracts=_contracts(session, template),
                      long_text=LONG_TEXT, list_rows=lambda n: list_rows(fields, n),
                      gaps=_profile_gaps(session, name, error), missing=missing, others=others,
                      letterhead=[m for m in missing if m.startswith("company.")],
                      letterhead_page=LETTERHEAD_PAGE, bad=error.data.get("value") if error is not None else None,
                      preview=preview, images=[base64.b64encode(p).decode("ascii") for p in preview.pages]
                      if preview is not None else [], pdf_present=pdfs.soffice() is not None)

    return _page(request, build)


async def _form(request: Request) -> dict[str, str] | None:
    async with request.form(max_files=0, max_fields=MAX_FIELDS, max_part_size=MAX_FIELD_BYTES) as posted:
        return {k: str(v) for k, v in posted.items()}


async def form_submit(request: Request) -> Response:
    """``do=preview``: the form again with the rendered document below it;
    ``do=generate``: filed, then 303 to the filed document's page."""
    name = request.path_params["template"]
    signin = _signin_of(request)
    if signin is None:
        return RedirectResponse("/signin", 303)
    try:
        fields = await _form(request)
    except BAD_FORM:  # a form over its limits or malformed: nothing was acted on
        return error_page(request, UsageError("the form is too large or malformed"), signin)
    if not csrf_ok(request, signin, fields.get("csrf")):
        return error_page(request, csrf_refused(), signin)
    do = fields.get("do", "preview")

    def act(session):
        template = paperwork.template(session, name)
        given = given_of(fields, template)
        client = fields.get("client", "").strip()
        if not client:
            raise UsageError("choose the client", code="no-client")
        contract = (fields.get("contract", "").strip() or None) if template.contract else None
        level = _level(fields) if template.level else None
        if do == "generate":
            return paperwork.generate_filed(session, name, client, given, contract, level)
        return paperwork.preview(session, name, client, given, contract, level)

    origin = origin_of(request, request.app.state.settings)
    try:
        async with render_slot(request):
            result = await run_in_threadpool(as_session, signin, origin, act)
    except AccessDenied as exc:
        if exc.code == "template-rights" or not signin.session.policy.allows(signin.session.departments,
                                                                              "generate"):
            return _refused(request, signin, exc)
        return await run_in_threadpool(form_page, request, fields, exc)
    except ArchiveError as exc:
        return await run_in_threadpool(form_page, request, fields, exc)
    if isinstance(result, paperwork.Preview):
        return await run_in_threadpool(form_page, request, fields, None, result)
    return RedirectResponse(f"/paperwork/documents/{result.doc_id}?done=generated", 303)


def filed_page(request: Request, notice: str | None = None, error: ArchiveError | None = None) -> Response:
    doc_id = request.path_params["doc_id"]
    notice = notice or request.query_params.get("done")

    def build(signin, session) -> Response:
        doc = paperwork.filed(session, doc_id)
        names = {code: t.name for code, t in session.policy.types.items()}
        return render(request, "paperwork_done.html", status_of(error) if error else 200, signin=signin, doc=doc,
                      notice=notice if notice in NOTICES else None, error=error, type_names=names,
                      pdf_present=pdfs.soffice() is not None)

    return _page(request, build)


async def decide_submit(request: Request) -> Response:
    """Approve or reject a draft amendment (another member of legal than its drafter)."""
    doc_id, decision = request.path_params["doc_id"], request.path_params["decision"]
    signin = _signin_of(request)
    if signin is None:
        return RedirectResponse("/signin", 303)
    try:
        fields = await _form(request)
    except BAD_FORM:  # a form over its limits or malformed: nothing was acted on
        return error_page(request, UsageError("the form is too large or malformed"), signin)
    if not csrf_ok(request, signin, fields.get("csrf")):
        return error_page(request, csrf_refused(), signin)
    decide = {"approve": amendments.approve_amendment, "reject": amendments.reject_amendment}.get(decision)
    if decide is None:
        return error_page(request, UsageError(f"no decision {decision!r}"), signin)
    opinion = fields.get("opinion", "")
    try:
        async with render_slot(request):
            await run_in_threadpool(as_session, signin, origin_of(request, request.app.state.settings),
                                    lambda session: decide(session, doc_id, opinion))
    except ArchiveError as exc:
        return await run_in_threadpool(filed_page, request, None, exc)
    return RedirectResponse(f"/paperwork/documents/{doc_id}?done={decision}", 303)


def pdf_download(request: Request) -> Response:
    """The filed document as PDF (an export of it: needs ``export``), made by LibreOffice."""
    doc_id = request.path_params["doc_id"]
    signin = _signin_of(request)
    if signin is None:
        return RedirectResponse("/signin", 303)
    try:
        data, name = as_session(signin, origin_of(request, request.app.state.settings),
                                lambda session: paperwork.pdf_copy(session, doc_id))
    except ArchiveError as exc:
        return error_page(request, exc, signin)
    return Response(data, media_type="application/pdf", headers={
        "content-disposition": disposition("attachment", name), "x-content-type-options": "nosniff",
        "content-security-policy": "sandbox; default-src 'none'"})


ROUTES = [
    Route("/paperwork", templates_page, methods=["GET"]),
    Route("/paperwork/documents/{doc_id}", filed_page, methods=["GET"]),
    Route("/paperwork/documents/{doc_id}/pdf", pdf_download, methods=["GET"]),
    Route("/paperwork/documents/{doc_id}/{decision}", decide_submit, methods=["POST"]),
    Route("/paperwork/{template}", form_page, methods=["GET"]),
    Route("/paperwork/{template}", form_submit, methods=["POST"]),
]
