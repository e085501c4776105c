"""Policy as data: departments, access classes, document types and grants."""

from archive_manager.policy.loader import POLICY_FILES, load_policy, parse_policy, read_policy_files
from archive_manager.policy.model import ACTIONS, ADMIN_DEPARTMENT, AccessClass, DocType, Grant, Policy

__all__ = ["ACTIONS", "ADMIN_DEPARTMENT", "POLICY_FILES", "AccessClass", "DocType", "Grant", "Policy",
           "load_policy", "parse_policy", "read_policy_files"]
