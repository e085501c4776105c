"""What the library's operations return: frozen dataclasses. :class:`Result`
gives the plain ones their JSON shape (``to_dict``: the fields as they are);
a result whose JSON differs from its fields defines its own ``to_dict``."""

from __future__ import annotations

from dataclasses import asdict


class Result:
    """Mixed into a result dataclass: ``to_dict`` is its fields, nested results included."""

    def to_dict(self) -> dict:
        return asdict(self)  # type: ignore[call-overload]


__all__ = ["Result"]
