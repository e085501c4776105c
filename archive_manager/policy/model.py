"""The validated, immutable policy the rest of the archive consults."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Mapping

from archive_manager.errors import UsageError

if TYPE_CHECKING:
    from archive_manager.policy.admission import AdmissionPolicy
    from archive_manager.policy.profile import ProfileField

ACTIONS = ("file", "read", "search", "export", "generate", "admin", "audit")
# The administrators' department: the only one that may hold ``admin``, and the
# one whose members sign the records that decide who holds which key.
ADMIN_DEPARTMENT = "archive"


@dataclass(frozen=True)
class AccessClass:
    id: str
    name: str
    types: tuple[str, ...]


@dataclass(frozen=True)
class DocType:
    id: str
    name: str
    access_class: str


@dataclass(frozen=True)
class Grant:
    department: str
    classes: frozenset[str]
    actions: frozenset[str]


@dataclass(frozen=True)
class Policy:
    classes: dict[str, AccessClass]
    types: dict[str, DocType]
    departments: dict[str, str]  # id -> display name
    grants: dict[str, Grant]
    # the client profile's fields (profile.toml); None: the policy has none
    # (an archive made before issue 15), and only administrators change a profile
    profile: "Mapping[str, ProfileField] | None" = None
    # the admission chain and credit rules (admission.toml); None: an archive
    # made before issue 18, where admission and re-assessment are not available
    admission: "AdmissionPolicy | None" = None
    # the company letterhead paperwork prints (company.toml); empty: none signed yet
    company: Mapping[str, str] = field(default_factory=dict)

    def doc_type(self, type_id: str) -> DocType:
        try:
            return self.types[type_id]
        except KeyError:
            raise UsageError(
                f"unknown document type {type_id!r}",
                hint="known types: " + ", ".join(sorted(self.types)),
            ) from None

    def check_department(self, dept: str) -> None:
        if dept not in self.departments:
            raise UsageError(
                f"unknown department {dept!r}",
                hint="known departments: " + ", ".join(sorted(self.departments)),
            )

    def _grants(self, departments: Iterable[str]) -> list[Grant]:
        return [self.grants[d] for d in departments if d in self.grants]

    def allows(self, departments: Iterable[str], action: str, access_class: str | None = None) -> bool:
        """True when one of ``departments`` has ``action`` (on ``access_class`` if given)."""
        for grant in self._grants(departments):
            if action in grant.actions and (access_class is None or access_class in grant.classes):
                return True
        return False

    def classes_for(self, departments: Iterable[str], action: str | None = None) -> frozenset[str]:
        """Classes the departments hold (for ``action``, if given)."""
        out: set[str] = set()
        for grant in self._grants(departments):
            if action is None or action in grant.actions:
                out |= grant.classes
        return frozenset(out)

    def actions_for(self, departments: Iterable[str]) -> frozenset[str]:
        out: set[str] = set()
        for grant in self._grants(departments):
            out |= grant.actions
        return frozenset(out)

    def owns(self, departments: Iterable[str], field: str) -> bool:
        """True when one of ``departments`` owns profile field ``field`` (may
        change it without being an administrator)."""
        declared = (self.profile or {}).get(field)
        return declared is not None and not set(declared.owners).isdisjoint(departments)
