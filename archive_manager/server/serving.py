"""Running the application under uvicorn, with the archive's settings."""

from __future__ import annotations

from typing import Callable

from archive_manager.errors import UsageError
from archive_manager.home import ArchiveHome
from archive_manager.server.app import create_app
from archive_manager.server.web import ServerSettings


def server_settings(home: ArchiveHome, tls: bool) -> ServerSettings:
    s = home.settings
    return ServerSettings(idle_seconds=s.server_idle_minutes * 60, absolute_seconds=s.server_absolute_hours * 3600,
                          trusted_proxies=s.server_trusted_proxies, secure_cookies=tls)


def serve(home: ArchiveHome, host: str, port: int, tls_cert: str | None, tls_key: str | None,
          echo: Callable[[str], None]) -> None:
    import uvicorn

    if not (home.settings.vault_dir / "vault.json").exists():
        raise UsageError(f"no archive in {home.settings.home}", hint="run 'archive init' there first")
    app = create_app(home, server_settings(home, tls=bool(tls_cert)))
    scheme = "https" if tls_cert else "http"
    echo(f"archive: serving {home.settings.home} at {scheme}://{host}:{port}/ (Ctrl-C stops; sign-ins end with it)")
    config = uvicorn.Config(app, host=host, port=port, ssl_certfile=tls_cert, ssl_keyfile=tls_key,
                            log_level="warning", access_log=False, server_header=False, proxy_headers=False)
    uvicorn.Server(config).run()
