"""The audit trail: a hash-chained, signed, append-only event log, and the
checkpoints auditors keep off the machine. (Wiring every action into it, sealed
details and the CLI follow in the audit issue's next steps.)"""

from archive_manager.audit.chain import AuditLog, Signer, Verification, verify_chain
from archive_manager.audit.checkpoint import check_checkpoint, make_checkpoint, parse_checkpoint

__all__ = ["AuditLog", "Signer", "Verification", "check_checkpoint", "make_checkpoint",
           "parse_checkpoint", "verify_chain"]
