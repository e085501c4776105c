"""The audit trail as the archive's reporter: every action event is turned
into a log line (details sealed to the audit key), signed by the acting user
and appended. A write that fails raises, and the action fails with it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Callable

from archive_manager.audit.chain import AuditLog, Signer
from archive_manager.audit.details import WITHHELD, seal_details
from archive_manager.errors import ArchiveError
from archive_manager.runtime import Runtime

if TYPE_CHECKING:
    from archive_manager.reporting import ActionEvent

# (vault id, generation, public key) of the audit key in force, or None
AuditKey = Callable[[], "tuple[str, int, bytes] | None"]

MAX_USER = 200  # a name typed at a failed sign-in is recorded, cut to this length


class AuditTrail:
    def __init__(self, log: AuditLog, runtime: Runtime, audit_key: AuditKey) -> None:
        self.log = log
        self.runtime = runtime
        self._audit_key = audit_key

    def report(self, event: "ActionEvent", signer: Signer | None) -> None:
        fields = {
            "time": self.runtime.timestamp(),
            "user": event.user[:MAX_USER] if event.user is not None else None,
            "departments": list(event.departments),
            "action": event.action,
            "objects": event.objects,
            "outcome": event.outcome,
            "reason": event.reason,
            "host": self.runtime.host,
            "sealed": self._seal(event.details),
            "state": event.state,
        }
        self.log.append(fields, signer)

    def _seal(self, details: dict) -> dict | None:
        if not details:
            return None
        try:
            key = self._audit_key()
        except ArchiveError:  # keys.json damaged: the event must still be written, never in clear
            return {"withheld": "the audit key could not be read (keys.json damaged?)"}
        if key is None:
            return dict(WITHHELD)
        vault_id, gen, public = key
        return seal_details(details, vault_id, gen, public)

    def position(self) -> int:
        return self.log.size()

    def recorded(self, tx: str, position: int) -> bool:
        needle = f'"tx":"{tx}"'.encode()
        for line in self.log.lines(after=position):
            if needle in line:
                try:
                    if (json.loads(line).get("state") or {}).get("tx") == tx:
                        return True
                except ValueError:
                    continue
        return False
