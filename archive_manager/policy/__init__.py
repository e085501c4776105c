"""Policy as data: departments, access classes, document types, grants and the client profile's fields."""

from archive_manager.policy.loader import (OPTIONAL_POLICY_FILES, POLICY_FILES, load_policy, parse_policy,
                                           read_policy_files)
from archive_manager.policy.model import ACTIONS, ADMIN_DEPARTMENT, AccessClass, DocType, Grant, Policy
from archive_manager.policy.company import COMPANY_FILE
from archive_manager.policy.profile import PROFILE_CLASS, ProfileField

__all__ = ["ACTIONS", "ADMIN_DEPARTMENT", "COMPANY_FILE", "OPTIONAL_POLICY_FILES", "POLICY_FILES", "PROFILE_CLASS", "AccessClass",
           "DocType", "Grant", "Policy", "ProfileField", "load_policy", "parse_policy", "read_policy_files"]
