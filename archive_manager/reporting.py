"""The single place where every allowed, denied or failed action is reported.

The audit trail (a later issue) plugs in as a :class:`Reporter`; until then the
default keeps events in memory. Library code never reports directly: it goes
through :meth:`archive_manager.session.Session.recorded` or
:func:`report_login_failure`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class ActionEvent:
    action: str
    user: str | None
    departments: tuple[str, ...]
    outcome: str  # "ok" | "denied" | "error"
    objects: dict = field(default_factory=dict)  # client, doc_id, version: not secret
    details: dict = field(default_factory=dict)  # titles, file names: sealed by the audit trail
    reason: str | None = None


class Reporter(Protocol):
    def report(self, event: ActionEvent) -> None: ...


class MemoryReporter:
    """Keeps events in a list; the default until the audit trail exists, and for tests."""

    def __init__(self) -> None:
        self.events: list[ActionEvent] = []

    def report(self, event: ActionEvent) -> None:
        self.events.append(event)
