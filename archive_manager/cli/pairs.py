"""The CLI's ``--set key=value`` pairs and ``--data FILE``, read into the
values the library takes (a dict; nested for a template's dotted names)."""

from __future__ import annotations

import json
from pathlib import Path

from archive_manager.errors import UsageError


def parse_fields(pairs: list[str] | tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"invalid --set value {pair!r}", hint="use --set key=value")
        out[key.strip()] = value
    return out


def parse_given(pairs: list[str] | tuple[str, ...], data_file: Path | None) -> dict:
    """``--data FILE`` (JSON object) then ``--set a.b=value`` pairs, as a nested dict."""
    given: dict = {}
    if data_file is not None:
        try:
            loaded = json.loads(Path(data_file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read --data {data_file}: {exc}") from None
        except RecursionError:
            raise UsageError(f"--data {data_file} is nested too deeply",
                             hint="give a flat object of the template's values") from None
        if not isinstance(loaded, dict):
            raise UsageError(f"--data {data_file} must hold a JSON object")
        given.update(loaded)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"invalid --set value {pair!r}", hint="use --set name=value, e.g. --set budget=500000")
        _put(given, key.strip(), value)
    return given


def _put(context: dict, path: str, value) -> None:
    *parents, last = path.split(".")
    for part in parents:
        nxt = context.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise UsageError(f"--set {path}: {part} is not a group of values")
        context = nxt
    context[last] = value
