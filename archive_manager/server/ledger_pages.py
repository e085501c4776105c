"""The receivables pages (credit): the ledger per client and for all clients,
invoices and payments, the overdue batch with its preview, receivables by
age. Readers of the ledger's class see the pages; holders of ``file`` on it
enter invoices and payments; the batch runs for holders of ``generate`` too,
and only the letters its preview showed (their keys travel with the form).
Each route: who asks, one library call as their session, a template."""

from __future__ import annotations

from contextlib import nullcontext

from typing import Callable
from urllib.parse import quote, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from archive_manager import generating, receivables
from archive_manager.errors import AccessDenied, ArchiveError, UsageError
from archive_manager.receivables import AGES, LEDGER_CLASS, AgeBuckets
from archive_manager.server.charts import columns
from archive_manager.server.pages import _lang, _page, _signin_of, error_page, render
from archive_manager.server.texts import TEXTS
from archive_manager.server.web import BAD_FORM, as_session, csrf_ok, render_slot, csrf_refused, origin_of, status_of

MAX_FIELDS, MAX_FIELD_BYTES = 200, 4096
CHART_CLIENTS = 6  # the overview's chart stacks this many clients; the rest as one series


def yuan(amount) -> str:
    """``1,234,567.80``: thousands separated, two decimals."""
    return f"{amount:,.2f}"


def _rights(session) -> dict:
    allows, depts = session.policy.allows, session.departments
    can_file = allows(depts, "file", LEDGER_CLASS)
    return {"can_file": can_file, "can_generate": can_file and allows(depts, "generate")}


def _context(request: Request, session) -> dict:
    t = TEXTS[_lang(request)]
    return dict(yuan=yuan, ages=AGES, level_name=lambda n: t.get(f"ledger_level_{n}", str(n)), **_rights(session))


def _age_chart(request: Request, series: dict[str, list[float]], title: str, **size):
    """Receivables by age bucket as columns, stacked by ``series`` (a name -> an amount per bucket)."""
    t = TEXTS[_lang(request)]
    return columns([t[f"ledger_age_{a}"] for a in AGES], series, title, unit=" 元" if _lang(request) == "zh" else "",
                   **size)


# --- every client ----------------------------------------------------------------


def ledger_page(request: Request) -> Response:
    code = request.query_params.get("client", "").strip()
    if code:  # the form that opens a client's ledger
        return RedirectResponse(f"/ledger/{quote(code, safe='')}", 303)

    def build(signin, session) -> Response:
        view = receivables.ledger_overview(session)
        t = TEXTS[_lang(request)]
        by_client = sorted(view.clients, key=lambda c: -c.open)
        series = {c.name: [float(v) for v in c.ages.values()] for c in by_client[:CHART_CLIENTS]}
        rest = by_client[CHART_CLIENTS:]
        if rest:
            series[t["ledger_others"]] = [float(v) for v in sum((c.ages for c in rest), AgeBuckets()).values()]
        chart = _age_chart(request, series or {t["ledger_receivable"]: [0.0] * len(AGES)}, t["ledger_ages"])
        return render(request, "ledger.html", signin=signin, view=view, chart=chart, **_context(request, session))

    return _page(request, build)


# --- one client --------------------------------------------------------------------


def client_ledger_page(request: Request, error: ArchiveError | None = None, values: dict | None = None,
                       done: str | None = None, warnings: list[str] | None = None) -> Response:
    code = request.path_params["client"]
    q = request.query_params
    notice = done or (q.get("done") if q.get("done") in ("invoice", "payment") else None)
    invoice = (values or {}).get("invoice", "") if done else q.get("invoice", "")

    def build(signin, session) -> Response:
        view = receivables.client_ledger(session, code)
        t = TEXTS[_lang(request)]
        chart = _age_chart(request, {t["ledger_receivable"]: [float(v) for v in view.ages.values()]},
                           t["ledger_ages_of"].format(name=view.name), width=520, height=220)
        return render(request, "ledger_client.html", status_of(error) if error else 200, signin=signin, view=view,
                      chart=chart, error=error, values=values or {}, notice=notice, notice_invoice=invoice,
                      warnings=warnings or [], **_context(request, session))

    return _page(request, build)


async def _form(request: Request) -> dict[str, list[str]]:
    async with request.form(max_files=0, max_fields=MAX_FIELDS, max_part_size=MAX_FIELD_BYTES) as posted:
        out: dict[str, list[str]] = {}
        for key, value in posted.multi_items():
            out.setdefault(key, []).append(str(value))
        return out


async def _post(request: Request, act: Callable, done: Callable[[object], Response],
                again: Callable[[ArchiveError, dict], Response], renders: bool = False) -> Response:
    """A posted form of a signed-in user: the CSRF token checked, then
    ``act(session, form)`` (one library call) in a worker thread; ``done(result)``
    answers, a refusal is the error page (403), another error ``again(error, fields)``;
    ``renders``: the act renders documents, so it waits for a render slot."""
    signin = _signin_of(request)
    if signin is None:
        return RedirectResponse("/signin", 303)
    try:
        form = await _form(request)
    except BAD_FORM:  # a form over the limits: nothing was acted on
        return error_page(request, _bad_form(), signin)
    fields = {k: v[0].strip() for k, v in form.items()}
    if not csrf_ok(request, signin, fields.get("csrf")):
        return error_page(request, csrf_refused(), signin)
    origin = origin_of(request, request.app.state.settings)
    try:
        async with render_slot(request) if renders else nullcontext():
            result = await run_in_threadpool(as_session, signin, origin, lambda session: act(session, fields, form))
    except AccessDenied as exc:
        return error_page(request, exc, signin)
    except ArchiveError as exc:
        return await run_in_threadpool(again, exc, fields)
    return await run_in_threadpool(done, result)


def _bad_form() -> UsageError:
    return UsageError("the form is too large or malformed", hint="reload the page and try again")


async def add_invoice(request: Request) -> Response:
    code = request.path_params["client"]

    def act(session, f, _form):
        return receivables.add_invoice(session, code, f.get("invoice", ""), f.get("amount", ""), f.get("due", ""),
                                       f.get("contract") or None, readable_contract=True)

    def done(row) -> Response:
        if row.warnings:
            return client_ledger_page(request, done="invoice", values={"invoice": row.invoice}, warnings=row.warnings)
        query = urlencode({"done": "invoice", "invoice": row.invoice})
        return RedirectResponse(f"/ledger/{quote(code, safe='')}?{query}", 303)

    return await _post(request, act, done, lambda exc, fields: client_ledger_page(request, exc, fields))


async def record_payment(request: Request) -> Response:
    code = request.path_params["client"]

    def act(session, f, _form):
        return receivables.record_payment(session, code, f.get("invoice", ""), f.get("amount") or None,
                                          f.get("paid_on") or None)

    return await _post(request, act,
                       lambda row: RedirectResponse(f"/ledger/{quote(code, safe='')}?"
                                                    f"{urlencode({'done': 'payment', 'invoice': row.invoice})}", 303),
                       lambda exc, fields: client_ledger_page(request, exc, {**fields, "form": "payment"}))


# --- the overdue batch -------------------------------------------------------------


def overdue_page(request: Request, error: ArchiveError | None = None, results: list | None = None) -> Response:
    def build(signin, session) -> Response:
        plan = generating.plan_overdue(session)
        codes = {p.client for p in plan} | {r.client for r in results or []}
        return render(request, "ledger_overdue.html", status_of(error) if error else 200, signin=signin, plan=plan,
                      names=receivables.client_names(session, codes),
                      to_send=[p for p in plan if p.skipped is None], error=error, results=results,
                      sent=[r for r in results or [] if r.letter is not None],
                      gap=receivables.dunning_policy(session).min_gap_days, **_context(request, session))

    return _page(request, build)


async def run_overdue(request: Request) -> Response:
    def act(session, _fields, form):
        return receivables.run_overdue(session, form.get("letter", []))

    return await _post(request, act, lambda rows: overdue_page(request, results=rows),
                       lambda exc, _fields: overdue_page(request, error=exc), renders=True)


ROUTES = [
    Route("/ledger", ledger_page, methods=["GET"]),
    Route("/ledger/overdue", overdue_page, methods=["GET"]),
    Route("/ledger/overdue", run_overdue, methods=["POST"]),
    Route("/ledger/{client}", client_ledger_page, methods=["GET"]),
    Route("/ledger/{client}/invoices", add_invoice, methods=["POST"]),
    Route("/ledger/{client}/payments", record_payment, methods=["POST"]),
]
