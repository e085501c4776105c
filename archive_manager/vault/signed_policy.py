"""The policy in force: the texts of the policy files and of the template
catalog as an administrator last signed them (``vault/policy.json``).

The files under ``policies/`` and ``templates/catalog.toml`` are where an
administrator edits, and the Word templates the catalog names (signed by
their SHA-256: they are what paperwork, the admission form and a final
amendment are rendered from); they change nothing until ``archive policy sync`` shows
the difference and signs it. Until then every command refuses (the files and
the signed copy disagree), rather than silently using either version.
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from archive_manager.errors import IntegrityError, PolicyError
from archive_manager.policy import Policy, parse_policy
from archive_manager.vault.fsio import dump_json, read_json
from archive_manager.vault.trust import canonical

if TYPE_CHECKING:
    from archive_manager.vault.trust import SignerLike, Trust

CATALOG = "catalog.toml"
SYNC_HINT = "an admin reviews the change and signs it, or puts the files back as they were"


@dataclass
class SignedPolicy:
    files: dict[str, str]  # policy file name -> text
    catalog: str  # templates/catalog.toml
    seq: int = 1
    time: str = ""
    endorsement: dict | None = field(default=None, compare=False)
    templates: dict[str, str] = field(default_factory=dict)  # template file -> SHA-256 ({}: signed before issue 18)

    @classmethod
    def load(cls, path: Path) -> "SignedPolicy":
        data = read_json(path, "signed policy")
        files, catalog, seq = data.get("files"), data.get("catalog"), data.get("seq")
        templates = data.get("templates", {})
        if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()) \
                or not isinstance(catalog, str) or type(seq) is not int or not isinstance(data.get("time"), str) \
                or not isinstance(templates, dict) or not all(isinstance(v, str) for v in templates.values()):
            raise IntegrityError("policy.json (the signed policy) is malformed",
                                 hint="restore vault/policy.json from a backup")
        return cls(dict(files), catalog, seq, data["time"], data.get("endorsement"), dict(templates))

    def body(self) -> dict:
        """What an admin signs (without templates: exactly what was signed before they were)."""
        body = {"files": dict(sorted(self.files.items())), "catalog": self.catalog, "seq": self.seq,
                "time": self.time}
        if self.templates:
            body["templates"] = dict(sorted(self.templates.items()))
        return body

    @property
    def digest(self) -> str:
        """SHA-256 of what the policy says (files and catalog), recorded in the
        audit log at every sync and compared by ``archive verify``."""
        said = {"files": dict(sorted(self.files.items())), "catalog": self.catalog}
        if self.templates:
            said["templates"] = dict(sorted(self.templates.items()))
        return hashlib.sha256(canonical(said)).hexdigest()

    def verify(self, trust: "Trust") -> "SignedPolicy":
        trust.check("policy", self.body(), self.endorsement, "policy.json (the policy in force)")
        return self

    def serialize(self, trust: "Trust", signer: "SignerLike") -> bytes:
        self.endorsement = trust.endorse("policy", self.body(), signer)
        return dump_json({**self.body(), "endorsement": self.endorsement})

    def policy(self) -> Policy:
        return parse_policy(self.files)

    def texts(self) -> dict[str, str]:
        """Every signed text by the file name an admin edits (a template: its SHA-256)."""
        return _texts(self.files, self.catalog, self.templates)

    def template_ok(self, file: str, sha256: str) -> bool:
        """Whether the template ``file`` with this content is the signed one
        (a policy signed before templates were has no say: True)."""
        return not self.templates or self.templates.get(file) == sha256

    def differences(self, files: Mapping[str, str], catalog: str, templates: Mapping[str, str] | None = None
                    ) -> list[str]:
        """A unified diff from the signed texts to the given ones (empty: the same)."""
        new = _texts(files, catalog, templates or {})
        old = self.texts()
        lines: list[str] = []
        for name in sorted(set(old) | set(new)):
            a, b = old.get(name, ""), new.get(name, "")
            if a != b:
                lines += difflib.unified_diff(a.splitlines(), b.splitlines(), f"signed/{name}", name, lineterm="")
        return lines

    def check_files(self, files: Mapping[str, str], catalog: str, templates: Mapping[str, str] | None = None
                    ) -> None:
        """Refuse (exit 6) if the editable files are not what was signed (the
        templates too, once a policy signed them)."""
        edited = _texts(files, catalog, (templates or {}) if self.templates else {})
        signed = self.texts()
        # both ways: a file may be optional (policies/profile.toml), so one deleted is a change too
        changed = sorted(n for n in set(edited) | set(signed) if signed.get(n) != edited.get(n))
        if changed:
            raise PolicyError(f"{', '.join(changed)} changed since an admin last signed the policy; "
                              "nothing is done until the change is signed or undone", hint=SYNC_HINT,
                              code="policy-unsigned")


def _texts(files: Mapping[str, str], catalog: str, templates: Mapping[str, str]) -> dict[str, str]:
    return {**{f"policies/{n}": t for n, t in files.items()}, f"templates/{CATALOG}": catalog,
            **{f"templates/{n}": f"SHA-256 {h}" for n, h in templates.items()}}


__all__ = ["SYNC_HINT", "SignedPolicy"]
