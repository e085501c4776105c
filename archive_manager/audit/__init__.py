"""The audit trail: a hash-chained, signed, append-only event log
(:mod:`.chain`), event details sealed to the auditors (:mod:`.details`), the
archive's reporter that writes it (:mod:`.trail`), checkpoints auditors keep
off the machine (:mod:`.checkpoint`), the names of the actions it records
(:mod:`.actions`) and what auditors do with it (:mod:`archive_manager.auditing`)."""

from archive_manager.audit.chain import AuditLog, Signer, Verification, verify_chain
from archive_manager.audit.checkpoint import check_checkpoint, make_checkpoint, parse_checkpoint
from archive_manager.audit.trail import AuditTrail

__all__ = ["AuditLog", "AuditTrail", "Signer", "Verification", "check_checkpoint", "make_checkpoint",
           "parse_checkpoint", "verify_chain"]
