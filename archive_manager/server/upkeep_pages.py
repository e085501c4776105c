"""The admin desk's upkeep pages (archive administrators): the inbox's
quarantine with each file's reason, retry and delete; the watcher's status;
the archive's health (verify, audit verify, index state per class, disk use).

A quarantined file is named in URLs by the id the library's list gives it,
never by a path. The health checks read everything, so they run on a button
(POST, CSRF) and their last results are kept in this server process's memory
with when and by whom they ran: nothing a file writer could forge, lost at a
restart (the page says so). A check already running is not started twice.
Only ``admin`` users: others get a 403 page, and the library records the
refusal."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from archive_manager import health, quarantine
from archive_manager.errors import AccessDenied, ArchiveError, ConflictError, NotFound, UsageError
from archive_manager.server.admin_pages import _admin_page, _refused  # the admin desk's refusal, one for every page
from archive_manager.server.charts import Row, rows
from archive_manager.server.pages import _lang, _signin_of, error_page, render
from archive_manager.server.texts import TEXTS
from archive_manager.server.web import as_session, csrf_ok, csrf_refused, origin_of, status_of

INBOX_NOTICES = ("retry", "delete")
RUNS = {"vault": health.check_vault, "audit": health.check_trail, "index": health.index_states,
        "disk": health.disk_use}
_STORE_LOCK = threading.Lock()


# --- the checks' last results, in this process's memory --------------------------------


@dataclass
class Ran:
    time: str                     # UTC, ISO 8601
    user: str
    seconds: float
    result: object | None = None
    error: str | None = None


@dataclass
class Results:
    lock: threading.Lock = field(default_factory=threading.Lock)
    last: dict[str, Ran] = field(default_factory=dict)
    running: dict[str, str] = field(default_factory=dict)  # check -> who started it

    def run(self, check: str, session) -> None:
        with self.lock:
            if check in self.running:
                raise ConflictError(f"the {check} check is already running (started by {self.running[check]})",
                                    hint="wait for it to finish, then reload the page")
            self.running[check] = session.user
        started, when = time.monotonic(), session.runtime.timestamp()
        try:
            result, error = RUNS[check](session), None
        except AccessDenied:
            raise
        except ArchiveError as exc:  # shown as the check's result: what stopped it
            result, error = None, exc.message
        finally:
            with self.lock:
                self.running.pop(check, None)
        with self.lock:
            self.last[check] = Ran(when, session.user, round(time.monotonic() - started, 1), result, error)


def _results(request: Request) -> Results:
    state = request.app.state
    with _STORE_LOCK:
        try:
            return state.upkeep_results
        except AttributeError:
            state.upkeep_results = Results()
            return state.upkeep_results


# --- shared -----------------------------------------------------------------------------


async def _post(request: Request, act: Callable, done: Callable[[object], Response],
                again: Callable[[ArchiveError], Response]) -> Response:
    """A posted form (no files): the CSRF token checked, ``act(session,
    fields)`` in a worker thread as the sign-in's session, then ``done`` (a
    303) or ``again`` (the page with the error at its status); a refusal is
    the 403 page."""
    signin = _signin_of(request)
    if signin is None:
        return RedirectResponse("/signin", 303)
    async with request.form(max_files=0, max_fields=10, max_part_size=4096) as form:
        fields = {k: str(v) for k, v in form.items()}
    if not csrf_ok(request, signin, fields.get("csrf")):
        return error_page(request, csrf_refused(), signin)
    origin = origin_of(request, request.app.state.settings)
    try:
        result = await run_in_threadpool(as_session, signin, origin, lambda session: act(session, fields))
    except AccessDenied as exc:
        return _refused(request, signin, exc)
    except ArchiveError as exc:
        return await run_in_threadpool(again, exc)
    return done(result)


def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _watcher(status) -> dict:
    """The status with its times as UTC strings for the ``when`` filter."""
    return {**status.to_dict(), **{k: _iso(getattr(status, k)) for k in ("started", "last_scan", "updated",
                                                                        "stopped")}}


# --- the quarantine ------------------------------------------------------------------------


def inbox_page(request: Request, error: ArchiveError | None = None) -> Response:
    notice = request.query_params.get("done")

    def build(signin, session) -> Response:
        files = quarantine.list_quarantine(session)
        watcher = quarantine.watcher_status(session)
        return render(request, "upkeep_inbox.html", status_of(error) if error else 200, signin=signin,
                      files=files, watcher=_watcher(watcher), error=error,
                      notice=notice if notice in INBOX_NOTICES and error is None else None)

    return _admin_page(request, build)


def delete_confirm(request: Request) -> Response:
    item_id = request.path_params["item_id"]

    def build(signin, session) -> Response:
        item = next((f for f in quarantine.list_quarantine(session) if f.id == item_id), None)
        if item is None:
            raise NotFound("no quarantined file has this id", hint="it may have been retried or deleted since")
        return render(request, "upkeep_delete.html", signin=signin, item=item)

    return _admin_page(request, build)


async def retry_submit(request: Request) -> Response:
    item_id = request.path_params["item_id"]
    return await _post(request, lambda session, fields: quarantine.retry_quarantined(session, item_id),
                       lambda r: RedirectResponse("/admin/inbox?done=retry", 303),
                       lambda exc: inbox_page(request, exc))


async def delete_submit(request: Request) -> Response:
    item_id = request.path_params["item_id"]

    def act(session, fields):
        if fields.get("confirm") != "yes":
            raise UsageError("the deletion was not confirmed", hint="confirm it on the page that asks")
        return quarantine.delete_quarantined(session, item_id)

    return await _post(request, act, lambda r: RedirectResponse("/admin/inbox?done=delete", 303),
                       lambda exc: inbox_page(request, exc))


# --- health ----------------------------------------------------------------------------------


def health_page(request: Request, error: ArchiveError | None = None) -> Response:
    done = request.query_params.get("done")
    t = TEXTS[_lang(request)]

    def build(signin, session) -> Response:
        view = health.overview(session)
        store = _results(request)
        with store.lock:
            last, running = dict(store.last), dict(store.running)
        disk = last.get("disk")
        chart = None
        if disk is not None and disk.result is not None:
            chart = _disk_chart(disk.result, t)
        return render(request, "upkeep_health.html", status_of(error) if error else 200, signin=signin,
                      view=view, watcher=_watcher(view.watcher), last=last, running=running, chart=chart,
                      class_names={c: info.name for c, info in session.policy.classes.items()},
                      error=error, low_disk=view.disk_free < view.disk_total / 10,
                      notice=done in (*RUNS, "all") and error is None)

    return _admin_page(request, build)


def _disk_chart(use: health.DiskUse, t: dict):
    """A bar per part, in the unit that suits the largest."""
    top = max((p.bytes for p in use.parts), default=0)
    unit, scale = next(((u, s) for u, s in (("GB", 1 << 30), ("MB", 1 << 20)) if top >= s), ("KB", 1 << 10))
    return rows([Row(t["upkeep_part_" + p.part], round(p.bytes / scale, 1)) for p in use.parts],
                t["upkeep_disk_chart"], unit=f" {unit}", width=520)


async def health_run(request: Request) -> Response:
    store = _results(request)
    chosen: list[str] = []

    def act(session, fields):
        check = fields.get("check", "")
        if check != "all" and check not in RUNS:
            raise UsageError(f"no check named {check[:40]!r}", hint="choose one of: " + ", ".join([*RUNS, "all"]))
        chosen.append(check)  # each check requires admin and records itself (a refusal too)
        for name in (RUNS if check == "all" else (check,)):
            store.run(name, session)

    return await _post(request, act, lambda r: RedirectResponse(f"/admin/health?done={chosen[0]}", 303),
                       lambda exc: health_page(request, exc))


ROUTES = [
    Route("/admin/inbox", inbox_page, methods=["GET"]),
    Route("/admin/inbox/{item_id}/retry", retry_submit, methods=["POST"]),
    Route("/admin/inbox/{item_id}/delete", delete_confirm, methods=["GET"]),
    Route("/admin/inbox/{item_id}/delete", delete_submit, methods=["POST"]),
    Route("/admin/health", health_page, methods=["GET"]),
    Route("/admin/health/run", health_run, methods=["POST"]),
]
