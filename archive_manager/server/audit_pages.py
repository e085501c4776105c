"""The audit desk (auditors): the log as a filterable table, an event's
sealed details, the filtered log as CSV, the chain's verification and the
checkpoints (sign one, download it), and charts of the log.

Each route: who asks, one library call of :mod:`archive_manager.auditing` as
their session (which refuses, and records the refusal of, anyone without
the ``audit`` right), a template. Times are shown, and a filter's dates
read, in the server's time zone (``ServerSettings.time_zone``)."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone
from functools import lru_cache
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from archive_manager import auditing
from archive_manager.audit.figures import KIND_ORDER, LOCAL
from archive_manager.audit.filters import GROUPS
from archive_manager.audit.actions import ACTIONS
from archive_manager.errors import AccessDenied, ArchiveError
from archive_manager.server import charts
from archive_manager.server.application_pages import _post
from archive_manager.server.pages import _lang, _page, error_page, render
from archive_manager.server.texts import TEXTS, time_zone
from archive_manager.server.web import status_of
from archive_manager.text import printable

FILTER_KEYS = ("user", "department", "action", "outcome", "client", "document", "since", "until", "address")
CHART_TOP = 15  # bars drawn per chart; the tables have every figure
LABEL_CHARS = 20  # a longer name is cut in the chart (its tooltip and the table have it whole)
CHECKPOINTS_SHOWN = 10


# --- what every page of the desk shares ---------------------------------------------


def _zone(request: Request):
    return time_zone(request.app.state.settings.time_zone)


def _zone_name(zone) -> str:
    return getattr(zone, "key", None) or "UTC"


def _offset(zone) -> str:
    off = datetime.now(zone).strftime("%z") or "+0000"
    return f"UTC{off[:3]}:{off[3:]}"


def _at(zone):
    """An event's UTC stamp shown in ``zone`` to the second: 2026-12-07 13:07:35."""
    @lru_cache(maxsize=1 << 14)
    def at(value: str | None) -> str:
        if not value:
            return ""
        try:
            moment = datetime.fromisoformat(value)
        except (TypeError, ValueError):
            return str(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
    return at


def _message(request: Request, exc: ArchiveError) -> str:
    """The error in the page's words where the desk has them (by its code), else the library's."""
    words = TEXTS[_lang(request)].get(f"audit_err_{exc.code}") if exc.code else None
    if words:
        try:
            return words.format(**exc.data)
        except (KeyError, IndexError, ValueError):
            pass
    return exc.message


def _refused(request: Request, signin, exc: AccessDenied) -> Response:
    return render(request, "error.html", 403, signin=signin, message=TEXTS[_lang(request)]["audit_only"],
                  hint=exc.message)


def _desk(request: Request, build) -> Response:
    """:func:`pages._page` for the desk: a refusal shows the desk's own
    message, another error the desk's words for it (by its code) at its status."""
    def guarded(signin, session) -> Response:
        try:
            return build(signin, session)
        except AccessDenied as exc:
            return _refused(request, signin, exc)
        except ArchiveError as exc:
            return render(request, "error.html", status_of(exc), signin=signin, message=_message(request, exc),
                          hint=None)
    return _page(request, guarded)


def _common(request: Request, tab: str) -> dict:
    zone = _zone(request)
    t = TEXTS[_lang(request)]
    return dict(tab=tab, at=_at(zone), zone_note=t["audit_zone"].format(zone=_zone_name(zone), offset=_offset(zone)))


# --- the log ------------------------------------------------------------------------


def _criteria(request: Request) -> dict:
    """The filter's criteria as given (empty fields left out), with the server's zone."""
    q = request.query_params
    given = {k: q.get(k, "").strip() for k in FILTER_KEYS}
    given = {k: v for k, v in given.items() if v}
    return {**given, "zone": _zone_name(_zone(request))}


MAX_PAGE = 1_000_000  # 50 million events back: beyond any log, and the reader's buffer stays an int


def _page_number(request: Request) -> int:
    try:
        return min(max(1, int(request.query_params.get("page", "1"))), MAX_PAGE)
    except ValueError:
        return 1


def _log_url(criteria: dict, **more) -> str:
    query = {k: v for k, v in criteria.items() if k != "zone"}
    query.update({k: v for k, v in more.items() if v is not None})
    return "/audit?" + urlencode(query) if query else "/audit"


def _choices(request: Request, session) -> dict:
    depts = session.policy.departments
    return dict(departments=sorted(depts.items()), groups=[*GROUPS, "denied"], actions=sorted(ACTIONS),
                outcomes=auditing.OUTCOMES,
                department_names={d: (name if _lang(request) == "zh" else d) for d, name in depts.items()})


def log_page(request: Request) -> Response:
    criteria, page = _criteria(request), _page_number(request)

    def build(signin, session) -> Response:
        context = dict(criteria=criteria, log=None, message=None, **_choices(request, session), **_common(request, "log"),
                       page_url=lambda n: _log_url(criteria, page=n),
                       csv_url="/audit/log.csv" + _log_url(criteria).removeprefix("/audit"),
                       filter_url=lambda **kv: _log_url({k: v for k, v in kv.items() if v}))
        try:
            result = auditing.log_page(session, criteria, page)
        except AccessDenied:
            raise
        except ArchiveError as exc:
            return render(request, "audit.html", status_of(exc), signin=signin,
                          **{**context, "message": _message(request, exc)})
        return render(request, "audit.html", signin=signin, **{**context, "log": result})

    return _desk(request, build)


# --- one event ------------------------------------------------------------------------


def event_page(request: Request) -> Response:
    seq = request.path_params["seq"]

    def build(signin, session) -> Response:
        entry = auditing.read_event(session, seq)
        details = entry.details if isinstance(entry.details, dict) else None
        return render(request, "audit_event.html", signin=signin, e=entry, details=details,
                      details_note=entry.details if isinstance(entry.details, str) else None,
                      shown=_shown, filter_url=lambda **kv: _log_url(kv), **_common(request, "log"),
                      department_names=_choices(request, session)["department_names"])

    return _desk(request, build)


def _shown(value) -> str:
    """A value of an event's objects or details as text (lists joined, the rest as JSON)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ", ".join(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


# --- the log as CSV ----------------------------------------------------------------------

CSV_COLUMNS = ("seq", "time", "time_utc", "user", "departments", "action", "outcome", "client", "document",
               "address", "objects", "reason", "host", "signed", "sealed")
CSV_HEADERS = {
    "zh": {"seq": "序号", "time": "时间（{zone}）", "time_utc": "时间（UTC）", "user": "用户", "departments": "部门",
           "action": "操作", "outcome": "结果", "client": "客户编号", "document": "文档编号", "address": "来源地址",
           "objects": "其他对象", "reason": "原因", "host": "服务器", "signed": "已签名", "sealed": "有加密详情"},
    "en": {"seq": "seq", "time": "time ({zone})", "time_utc": "time (UTC)", "user": "user",
           "departments": "departments", "action": "action", "outcome": "outcome", "client": "client",
           "document": "document", "address": "address", "objects": "other objects", "reason": "reason",
           "host": "host", "signed": "signed", "sealed": "sealed details"},
}
SHOWN_APART = ("client", "doc_id", "address")  # objects with their own column


def _csv_row(line: auditing.LogLine, at, yes: str, no: str) -> list:
    rest = {k: v for k, v in line.objects.items() if k not in SHOWN_APART}
    cells = [line.seq, at(line.time), line.time or "", line.user or "", ",".join(line.departments),
             line.action or "", line.outcome or "", line.client or "", line.document or "", line.address or "",
             json.dumps(rest, ensure_ascii=False, sort_keys=True) if rest else "", line.reason or "",
             line.host or "", yes if line.signed else no, yes if line.sealed else no]
    return [auditing.spreadsheet_cell(printable(c)) if isinstance(c, str) else c for c in cells]


def log_csv(request: Request) -> Response:
    """The filtered log as CSV: UTF-8 with a byte-order mark (so that Excel
    reads Chinese), a header row, every cell that could start a formula
    defused; without the sealed details (see ``audit_csv_note``)."""
    criteria, lang, zone = _criteria(request), _lang(request), _zone(request)

    def build(signin, session) -> Response:
        try:
            lines = auditing.list_log(session, criteria)
        except AccessDenied:
            raise
        except ArchiveError as exc:
            return error_page(request, exc.reworded(_message(request, exc)), signin)
        out = io.StringIO()
        out.write("\ufeff")
        writer = csv.writer(out, lineterminator="\r\n")
        headers = CSV_HEADERS[lang]
        writer.writerow([headers[c].format(zone=_zone_name(zone)) for c in CSV_COLUMNS])
        at = _at(zone)
        yes, no = ("是", "否") if lang == "zh" else ("yes", "no")
        for line in lines:
            writer.writerow(_csv_row(line, at, yes, no))
        name = f"audit-log-{datetime.now(zone):%Y%m%d-%H%M}.csv"
        return Response(out.getvalue().encode("utf-8"), media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": f'attachment; filename="{name}"'})

    return _desk(request, build)


# --- verification and checkpoints ---------------------------------------------------------


def trail_page(request: Request, error: ArchiveError | None = None) -> Response:
    signed = request.query_params.get("signed")

    def build(signin, session) -> Response:
        status = auditing.trail_status(session, CHECKPOINTS_SHOWN)
        return render(request, "audit_trail.html", status_of(error) if error else 200, signin=signin,
                      trail=status, report=status.report,
                      signed=int(signed) if signed and signed.isdigit() else None,
                      error=_message(request, error) if error else None, error_hint=error.hint if error else None,
                      **_common(request, "trail"))

    return _desk(request, build)


async def sign_checkpoint(request: Request) -> Response:
    def again(exc: ArchiveError, fields: dict) -> Response:
        if isinstance(exc, AccessDenied):
            return _desk(request, lambda signin, session: _refused(request, signin, exc))
        return trail_page(request, exc)

    return await _post(request, lambda session, form: auditing.checkpoint(session),
                       lambda cp: RedirectResponse(f"/audit/trail?signed={cp.seq}", 303), again)


def checkpoint_download(request: Request) -> Response:
    seq = request.path_params["seq"]

    def build(signin, session) -> Response:
        cp = auditing.stored_checkpoint(session, seq)
        return Response((cp.line() + "\n").encode("utf-8"), media_type="application/json",
                        headers={"content-disposition": f'attachment; filename="audit-checkpoint-{cp.seq}.json"'})

    return _desk(request, build)


# --- charts -------------------------------------------------------------------------------


def _kind_names(t: dict) -> dict[str, str]:
    return {k: t[f"audit_kind_{k}"] for k in KIND_ORDER}


def _label(name: str) -> str:
    return name if len(name) <= LABEL_CHARS else name[:LABEL_CHARS - 1] + "…"


def _charts(figures, t: dict) -> dict:
    """The four charts drawn from the library's figures (the page draws, it does not count)."""
    names = _kind_names(t)
    series = {names[k]: figures.activity.counts[k] for k in KIND_ORDER if any(figures.activity.counts[k])}
    per_day = charts.columns([d[5:] for d in figures.activity.days], series or {names["other"]: [0] * len(
        figures.activity.days)}, t["audit_per_day"], width=1200)
    denials = charts.rows([charts.Row(_label(d.name), d.count, note=d.name) for d in figures.denials[:CHART_TOP]],
                          t["audit_denials"]) if figures.denials else None
    volumes = charts.rows([charts.Row(f"{_label(v.user)} · {names[v.kind]}", v.count, mark=v.median,
                                      flag=v.outlier, note=f"{v.user}, {t['audit_usual']} {v.median:g}")
                           for v in figures.volumes[:CHART_TOP]],
                          t["audit_volumes"].format(day=figures.until),
                          mark_label=t["audit_median"].format(days=figures.baseline_days)) \
        if figures.volumes else None
    local = t["audit_local"]
    failures = charts.rows([charts.Row(local if f.name == LOCAL else _label(f.name), f.count,
                                       note=f"{t['audit_users_tried']} {f.others}")
                            for f in figures.signin_failures[:CHART_TOP]], t["audit_failures"]) \
        if figures.signin_failures else None
    return dict(per_day=per_day, denials=denials, volumes=volumes, failures=failures, kind_names=names)


def charts_page(request: Request) -> Response:
    q = request.query_params
    since, until = (q.get(k, "").strip() or None for k in ("since", "until"))
    zone = _zone(request)

    def build(signin, session) -> Response:
        t = TEXTS[_lang(request)]
        context = dict(since=since or "", until=until or "", figures=None, message=None, top=CHART_TOP,
                       **_common(request, "charts"))
        try:
            figures = auditing.log_figures(session, since, until, _zone_name(zone))
        except AccessDenied:
            raise
        except ArchiveError as exc:
            return render(request, "audit_charts.html", status_of(exc), signin=signin,
                          **{**context, "message": _message(request, exc)})
        return render(request, "audit_charts.html", signin=signin, **{**context, "figures": figures,
                      "since": figures.since, "until": figures.until, "local": LOCAL, **_charts(figures, t)})

    return _desk(request, build)


ROUTES = [
    Route("/audit", log_page, methods=["GET"]),
    Route("/audit/log.csv", log_csv, methods=["GET"]),
    Route("/audit/events/{seq:int}", event_page, methods=["GET"]),
    Route("/audit/charts", charts_page, methods=["GET"]),
    Route("/audit/trail", trail_page, methods=["GET"]),
    Route("/audit/checkpoints", sign_checkpoint, methods=["POST"]),
    Route("/audit/checkpoints/{seq:int}", checkpoint_download, methods=["GET"]),
]
