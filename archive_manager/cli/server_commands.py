"""``archive serve``: the web application and JSON API."""

from __future__ import annotations

import sys

import click

from archive_manager.cli.context import CliContext
from archive_manager.cli.lazy import lazy_module
from archive_manager.cli.main import main, pass_cli
from archive_manager.cli.options import common
from archive_manager.errors import UsageError
from archive_manager.text import printable

serving = lazy_module("archive_manager.server.serving")
checks = lazy_module("archive_manager.server.check")


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True, help="Port to listen on.")
@click.option("--tls-cert", type=click.Path(dir_okay=False), help="TLS certificate (PEM), with --tls-key.")
@click.option("--tls-key", type=click.Path(dir_okay=False), help="TLS private key (PEM), with --tls-cert.")
@click.option("--check", "check_only", is_flag=True,
              help="Report what in this deployment lets a user around the server, and exit (1 if a problem).")
@click.option("--watch", is_flag=True, help="Also file the inbox as it fills ([inbox] user, as 'archive watch').")
@click.option("--polling", is_flag=True, help="With --watch: poll the inbox instead of file-system events.")
@common
@pass_cli
def serve_cmd(cli: CliContext, host: str, port: int, tls_cert, tls_key, check_only: bool, watch: bool,
              polling: bool) -> None:
    """Serve the archive in the browser and as a JSON API (/api/v1/).

    Users sign in with their own passphrase; their keys stay in this process
    for the sign-in only. Binds 127.0.0.1 unless --host says otherwise.
    """
    if bool(tls_cert) != bool(tls_key):
        raise UsageError("give --tls-cert and --tls-key together")
    if check_only:
        findings = checks.check_deployment(cli.home, host, bool(tls_cert))
        for f in findings:
            click.echo(f"{f.level:8} {f.subject:12} {printable(f.message)}")
        if any(f.level == "problem" for f in findings):
            sys.exit(1)
        return
    inbox = None
    if watch:
        from archive_manager.cli.inbox_commands import _line, _service_session

        inbox = (_service_session(cli), lambda o: click.echo(f"{o.time} {_line(o)}", err=True), polling)
    serving.serve(cli.home, host, port, tls_cert, tls_key, echo=lambda line: click.echo(line, err=True),
                  inbox=inbox)
