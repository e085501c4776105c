"""``archive serve``: the web application and JSON API."""

from __future__ import annotations

import click

from archive_manager.cli.context import CliContext
from archive_manager.cli.lazy import lazy_module
from archive_manager.cli.main import main, pass_cli
from archive_manager.cli.options import common
from archive_manager.errors import UsageError

serving = lazy_module("archive_manager.server.serving")


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True, help="Port to listen on.")
@click.option("--tls-cert", type=click.Path(dir_okay=False), help="TLS certificate (PEM), with --tls-key.")
@click.option("--tls-key", type=click.Path(dir_okay=False), help="TLS private key (PEM), with --tls-cert.")
@common
@pass_cli
def serve_cmd(cli: CliContext, host: str, port: int, tls_cert, tls_key) -> None:
    """Serve the archive in the browser and as a JSON API (/api/v1/).

    Users sign in with their own passphrase; their keys stay in this process
    for the sign-in only. Binds 127.0.0.1 unless --host says otherwise.
    """
    if bool(tls_cert) != bool(tls_key):
        raise UsageError("give --tls-cert and --tls-key together")
    serving.serve(cli.home, host, port, tls_cert, tls_key, echo=lambda line: click.echo(line, err=True))
