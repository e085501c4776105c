"""Policy as data: departments, access classes, document types and grants."""

from archive_manager.policy.loader import POLICY_FILES, load_policy
from archive_manager.policy.model import ACTIONS, AccessClass, DocType, Grant, Policy

__all__ = ["ACTIONS", "POLICY_FILES", "AccessClass", "DocType", "Grant", "Policy", "load_policy"]
