"""The server's application: the pages, the JSON API and the static files
over one :class:`ArchiveHome`, which holds the signed-in users' sessions.
Every response carries the security headers; every dynamic one is
``no-store``."""

from __future__ import annotations

import threading
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Callable

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from archive_manager.home import ArchiveHome
from jinja2 import pass_context

from archive_manager.server import (admin_pages, api, application_pages, audit_pages, ledger_pages, pages,
                                   paperwork_pages, texts, upkeep_pages)
from archive_manager.server.signins import SignIns
from archive_manager.server.throttle import Throttle
from archive_manager.server.web import HEADERS, ServerSettings

HERE = Path(__file__).resolve().parent


class SecurityHeaders:
    """Adds :data:`HEADERS` to every response, and ``Cache-Control:
    no-store`` to all but the static files."""

    def __init__(self, app: ASGIApp, tls: bool = False) -> None:
        self.app = app
        self.tls = tls  # served over TLS (directly, or by a proxy: then every response gets HSTS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")
        tls = scope.get("scheme") == "https" or self.tls

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.decode("latin-1").lower() for k, _ in headers}
                # a route's own stricter header (a document's sandbox policy) stays
                headers += [(k.encode(), v.encode()) for k, v in HEADERS.items() if k not in present]
                if tls:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                if not static:
                    headers = [(k, v) for k, v in headers if k.lower() != b"cache-control"]
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


@asynccontextmanager
async def _lifespan(app: Starlette):
    yield
    app.state.signins.close_all("server stopped")  # every signed-in user's keys go with the server


def create_app(home: ArchiveHome, settings: ServerSettings | None = None,
               clock: Callable[[], float] = time.monotonic, failed_delay: float = api.FAILED_SIGNIN_DELAY) -> Starlette:
    settings = settings or ServerSettings()
    app = _App(routes=[*api.ROUTES, *pages.ROUTES, *application_pages.ROUTES, *paperwork_pages.ROUTES,
                            *ledger_pages.ROUTES, *audit_pages.ROUTES, *admin_pages.ROUTES,
                            *upkeep_pages.ROUTES,
                            Mount("/static", StaticFiles(directory=HERE / "static"), name="static")],
                    exception_handlers={404: pages.not_found}, lifespan=_lifespan)
    app.state.home = home
    app.state.settings = settings
    app.state.signins = SignIns(home, settings.idle_seconds, settings.absolute_seconds, clock)
    app.state.throttle = Throttle(clock=clock)
    app.state.failed_delay = failed_delay
    app.state.render_slots = threading.BoundedSemaphore(max(1, settings.render_slots))
    templates = Jinja2Templates(directory=HERE / "templates")
    zone = texts.time_zone(settings.time_zone)
    templates.env.filters.update(
        day=pass_context(lambda ctx, v: texts.format_day(v, ctx["lang"])),
        when=pass_context(lambda ctx, v: texts.format_time(v, ctx["lang"], zone)),
        size=pass_context(lambda ctx, v: texts.format_size(v, ctx["lang"])))
    app.state.templates = templates
    return app


class _App(Starlette):
    """Starlette with :class:`SecurityHeaders` outside everything, its error
    middleware included: an unexpected failure's plain 500 carries the
    headers too (and never a traceback: debug is off)."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack(), tls=self.state.settings.secure_cookies)
