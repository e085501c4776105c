"""Options every command accepts in its own position too (``archive ls --user bob``)."""

from __future__ import annotations

import click

from archive_manager.cli.context import CliContext


def _setter(attr: str):
    def callback(ctx: click.Context, _param: click.Parameter, value):
        if value is not None:
            setattr(ctx.ensure_object(CliContext), attr, value)
        return value

    return callback


def common(f, user_flag: tuple[str, ...] = ("--user", "-u")):
    """--home, --user and --passphrase-file, on the group and on each command.
    A command whose ``--user`` means something else takes the acting user as
    ``-u`` only (``user_flag``)."""
    f = click.option("--passphrase-file", type=click.Path(dir_okay=False), expose_value=False,
                     callback=_setter("passphrase_file"), is_eager=True,
                     help="Read the passphrase from the first line of FILE.")(f)
    f = click.option(*user_flag, "acting_user", expose_value=False, callback=_setter("user"), is_eager=True,
                     help="Acting user (default: $ARCHIVE_USER).")(f)
    f = click.option("--home", type=click.Path(file_okay=False), expose_value=False,
                     callback=_setter("home_dir"), is_eager=True,
                     help="Archive home (default: $ARCHIVE_HOME or the current directory).")(f)
    return f


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
force_option = click.option("--force", is_flag=True, help="Replace the file -o names if it exists.")
