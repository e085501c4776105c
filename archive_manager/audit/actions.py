"""The names of the actions the audit trail records: one place for the code
that records them (``Session.recorded``, ``ArchiveHome.login`` and ``init``)
and for ``audit log --action``. A test reads every recorded name out of the
code and checks that it is here."""

from __future__ import annotations

ADMIN_ACTIONS = frozenset({"init", "user-add", "user-remove", "user-passwd", "user-list", "policy-sync",
                           "policy-diff", "rotate", "client-add", "reindex", "user-edit", "client-edit",
                           "user-departments", "letterhead", "letterhead-set"})  # the admin desk (issue 19)
ACTIONS = frozenset({
    *ADMIN_ACTIONS,
    "login", "logout", "csrf", "upgrade", "whoami", "client-list", "client-show", "user-show",   # sign-in, users and clients
    "file", "inbox-keep", "compact", "ls", "get", "view", "export", "search", "verify",   # documents
    "doc-show", "doc-edit", "ocr",
    "generate", "ledger-add", "ledger-paid", "ledger-list",       # paperwork and receivables
    "admission-start", "admission-show", "admission-list", "admission-review", "admission-resubmit",  # admission
    "client-status", "client-reassess", "client-due", "amendment-approve", "amendment-reject", "amendment-list",
    "audit-log", "audit-checkpoint", "audit-verify", "audit-figures", "audit-checkpoint-get",  # auditors
    "inbox-list", "inbox-retry", "inbox-delete", "inbox-status", "health",  # the admin desk's upkeep (issue 19)
})
