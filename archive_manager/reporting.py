"""The single place where every allowed, denied or failed action is reported.

Library code never reports directly: it goes through
:meth:`archive_manager.session.Session.recorded` (and the session's recorded
transactions) or :meth:`archive_manager.home.ArchiveHome.login`. The reporter
of a real home is the audit trail (:class:`archive_manager.audit.AuditTrail`);
:class:`MemoryReporter` keeps events in memory for tests, optionally passing
them on to the trail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from archive_manager.audit.chain import Signer


MAX_AGENT = 300  # a client's user agent is recorded cut to this length


@dataclass(frozen=True)
class Origin:
    """Where a request came from, for the events it causes (the server's
    requests; the CLI has none): the client's address in clear with the
    event's objects, its user agent sealed with the details."""

    address: str
    user_agent: str = ""

    def add_to(self, objects: dict, details: dict) -> None:
        objects["address"] = self.address
        if self.user_agent:
            details["user_agent"] = self.user_agent[:MAX_AGENT]


@dataclass(frozen=True)
class ActionEvent:
    action: str
    user: str | None
    departments: tuple[str, ...]
    outcome: str  # "ok" | "denied" | "error"
    objects: dict = field(default_factory=dict)  # client, doc_id, version: not secret
    details: dict = field(default_factory=dict)  # query, titles, file names: sealed by the audit trail
    reason: str | None = None
    state: dict | None = None  # a commit: its token and the hashes of the files it wrote


class Reporter(Protocol):
    def report(self, event: ActionEvent, signer: Signer | None) -> None:
        """Record ``event`` durably, or raise :class:`ArchiveError`."""

    def position(self) -> int:
        """Where the next event will go (for a commit journal)."""

    def recorded(self, tx: str, position: int) -> bool:
        """Whether the commit ``tx`` was recorded at or after ``position``."""


class MemoryReporter:
    """Keeps events in a list; with ``inner``, also passes them on."""

    def __init__(self, inner: Reporter | None = None) -> None:
        self.events: list[ActionEvent] = []
        self.inner = inner

    def report(self, event: ActionEvent, signer: Signer | None) -> None:
        if self.inner is not None:
            self.inner.report(event, signer)
        self.events.append(event)

    def position(self) -> int:
        return self.inner.position() if self.inner is not None else len(self.events)

    def recorded(self, tx: str, position: int) -> bool:
        if self.inner is not None:
            return self.inner.recorded(tx, position)
        return any((e.state or {}).get("tx") == tx for e in self.events[position:])
