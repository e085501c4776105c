"""Running the application under uvicorn, with the archive's settings."""

from __future__ import annotations

import threading
from typing import Callable

from archive_manager.errors import UsageError
from archive_manager.home import ArchiveHome
from archive_manager.server.app import create_app
from archive_manager.server.web import ServerSettings


def server_settings(home: ArchiveHome, tls: bool) -> ServerSettings:
    s = home.settings
    return ServerSettings(idle_seconds=s.server_idle_minutes * 60, absolute_seconds=s.server_absolute_hours * 3600,
                          trusted_proxies=s.server_trusted_proxies, secure_cookies=tls, time_zone=s.server_time_zone)


def serve(home: ArchiveHome, host: str, port: int, tls_cert: str | None, tls_key: str | None,
          echo: Callable[[str], None], inbox: tuple | None = None) -> None:
    """Serve until stopped (SIGINT, SIGTERM). ``inbox``: (the inbox account's
    session, a report for each file's outcome, polling) to also watch the
    inbox in this process, as ``archive watch`` does."""
    import uvicorn

    if not (home.settings.vault_dir / "vault.json").exists():
        raise UsageError(f"no archive in {home.settings.home}", hint="run 'archive init' there first")
    app = create_app(home, server_settings(home, tls=bool(tls_cert)))
    scheme = "https" if tls_cert else "http"
    echo(f"archive: serving {home.settings.home} at {scheme}://{host}:{port}/ (Ctrl-C stops; sign-ins end with it)")
    config = uvicorn.Config(app, host=host, port=port, ssl_certfile=tls_cert, ssl_keyfile=tls_key,
                            log_level="warning", access_log=False, server_header=False, proxy_headers=False)
    watcher = _start_watching(home, *inbox, echo) if inbox else None
    try:
        uvicorn.Server(config).run()
    finally:
        if watcher is not None:
            watcher[0].set()  # the file in hand is finished first
            watcher[1].join()


def _start_watching(home: ArchiveHome, session, report, polling: bool, echo):
    from archive_manager import ingesting, scans
    from archive_manager.ingest.watcher import InboxEvents

    def report_scan(scan, read) -> None:  # the scans OCR reads between filings
        echo(f"archive: OCR read {scan.doc_id} v{scan.version}: {read.status}"
             + (f" ({read.chars} characters)" if read.status == "ok" else f" ({read.reason})"))

    reader = scans.ScanReader(session, report_scan)
    ingestor = ingesting.Ingestor(session, home.settings.inbox, report, scans=reader)
    ingestor.check_inbox()
    for note in ingestor.recover():
        echo(f"archive: note: {note}")
    stop = threading.Event()

    def run() -> None:
        try:
            with InboxEvents(ingestor.root, polling=polling) as events:
                ingestor.watch(ingesting.new_tracker(session, ingestor.root), events, stop, home.settings.inbox_rescan)
        finally:
            reader.close()

    thread = threading.Thread(target=run, name="inbox", daemon=True)
    thread.start()
    echo(f"archive: watching {ingestor.root} as {session.user}")
    return stop, thread
