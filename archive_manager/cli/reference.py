"""The CLI reference (docs/cli.md), generated from the commands' own --help so
it cannot drift: a test compares the file with what this module prints.

    .venv/bin/python -m archive_manager.cli.reference > docs/cli.md
"""

from __future__ import annotations

import click

WIDTH = 100


def _walk(command: click.Command, path: list[str], parent: click.Context | None, out: list[str]) -> None:
    settings = {**command.context_settings, "terminal_width": WIDTH, "max_content_width": WIDTH}
    ctx = command.context_class(command, info_name=path[-1], parent=parent, **settings)
    level = "#" * min(len(path) + 1, 4)
    out.append(f"{level} `{' '.join(path)}`\n\n```\n{ctx.get_help()}\n```\n")
    if isinstance(command, click.Group):
        for name in sorted(command.list_commands(ctx)):
            _walk(command.get_command(ctx, name), [*path, name], ctx, out)


def render_reference() -> str:
    from archive_manager.cli.main import main

    out = ["# archive: command reference\n",
           "Generated from `--help` by `python -m archive_manager.cli.reference`; do not edit by hand.\n"]
    _walk(main, ["archive"], None, out)
    return "\n".join(out)


if __name__ == "__main__":
    print(render_reference(), end="")
