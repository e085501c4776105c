"""The CLI's own hints: what to type, for the errors whose remedy is a flag,
an environment variable or a command. The library's errors carry a ``code``
and ``data`` (``archive_manager/errors.py``); an error with a code in
:data:`CLI_HINTS` gets that hint, filled in with its data; any other keeps the
library's interface-neutral hint."""

from __future__ import annotations

from archive_manager.errors import ArchiveError

CLI_HINTS: dict[str, str] = {
    # admission (issue 18)
    "admission-required": "start an application with 'archive admission start'; an administrator registers a client "
                          "admitted before the archive",
    "no-admission-policy": "an administrator copies the shipped policies/admission.toml (and the new types in "
                           "classes.toml and types.toml) into the archive's policies/ and runs 'archive policy sync'",
    "missing-sets": "e.g. --set rating=A --set credit_limit=500000",
    # who is signing in
    "no-user": "pass --user NAME or set ARCHIVE_USER",
    "no-passphrase": "use the prompt, ARCHIVE_PASSPHRASE or --passphrase-file",
    "unknown-user": "check --user or ARCHIVE_USER",
    "wrong-passphrase": "check ARCHIVE_PASSPHRASE or --passphrase-file; a lost passphrase cannot be reset: an admin "
                        "removes the user and adds them under a new name",
    "no-user-record": "'archive user list' shows the users",
    # where the archive is
    "no-archive": "run 'archive init --admin NAME' or pass --home",
    "archive-exists": "use another --home, or remove the old archive yourself",
    "no-shipped": "reinstall archive-manager, or set ARCHIVE_SHIPPED_DIR to a directory holding policies/ and templates/",
    "no-policy-dir": "run 'archive init' to copy the shipped policies",
    "no-policies": "run 'archive init' or restore the shipped policies/",
    "no-inbox": "create it (mkdir) or pass --inbox DIR; files go in <CLIENT>/<type>/",
    "foreign-log": "use the archive's own archive.toml (or ARCHIVE_HOME); an admin who moved the log runs "
                   "'archive upgrade' with the new place configured",
    # upgrades
    "keyring-upgrade": "run 'archive upgrade' and confirm the fingerprint {fingerprint} with your administrator",
    "archive-upgrade": "an admin of the archive department runs 'archive upgrade' once, then each user at their "
                       "next sign-in",
    "unconfirmed": "run 'archive upgrade' again and confirm, or pass --fingerprint with the value your "
                   "administrator gives you",
    # keys and policy
    "no-keys-yet": "an admin runs 'archive policy sync' to hand out granted keys",
    "policy-unsigned": "an admin reviews the change with 'archive policy diff' and signs it with "
                       "'archive policy sync'; or put the files back as they were",
    "profile-unowned": "an administrator copies the shipped policies/profile.toml into the archive's policies/ "
                       "and signs it with 'archive policy sync'",
    # damage and tampering
    "restore": "run 'archive verify'; restore {file} from a backup",
    "vault-damaged": "restore the vault from a backup; run 'archive verify'",
    "stale-keys": "keys.json or this file was put back from an older copy or tampered with: run 'archive verify'",
    "tampered": "the file was changed outside the archive: restore it from a backup and run 'archive verify'; "
                "'archive audit log' shows who changed what",
    "reindex": "run 'archive reindex --if-needed' to rebuild it from the vault",
    "audit-damaged": "run 'archive audit verify'",
    "audit-torn": "run 'archive audit verify' and keep a copy before repairing",
    "audit-missing": "put the log back from a backup; 'archive audit verify' checks it",
    "audit-invalid": "run 'archive audit verify'; a checkpoint is only signed over a valid log",
    "not-a-checkpoint": "give the file 'archive audit checkpoint' printed",
    # what to type instead
    "nothing-to-change": "pass {options}",
    "no-department": "pass --dept NAME",
    "no-name": "pass --name",
    "empty-title": "give the document a title, or leave --title out",
    "no-document": "'archive ls --client {client}' lists what you may read",
    "no-client": "'archive client list' shows the clients",
    "bad-doc-id": "ids look like C001-k3m9q2xa; see 'archive ls'",
    "empty-query": "give words to search for, e.g. archive search 合同",
    "query-too-big": "search for fewer words at a time; narrow with --client, --type or --since",
    "inbox-limit": "raise [inbox] max_file_mb in archive.toml, or file it with 'archive file'",
    "template-missing": "run 'archive templates check'",
    "nothing-overdue": "'archive ledger list --overdue' shows what is",
    "derived-ledger": "record invoices and payments with 'archive ledger'; choose the dunning level with --level",
    "derived-contract": "name the contract with --contract DOC_ID "
                        "('archive ls --client {client} --type contract' lists them)",
    "derived-profile": "'archive client show {client}' shows the profile; only a value it lacks can be given",
    "missing-values": "give them with --set name=value or --data FILE; an admin sets the letterhead (company.*) "
                      "in policies/company.toml and signs it with 'archive policy sync'",
    "derived-letterhead": "an admin sets the letterhead in policies/company.toml and signs it with 'archive policy sync'",
    "set-passphrase": "archive user passwd",
    "missing-contract": "pass --contract DOC_ID ('archive ls --client {client} --type contract' lists the contracts)",
    "missing-contract-and-values": "pass --contract DOC_ID ('archive ls --client {client} --type contract' lists "
                                   "the contracts); give the other values with --set name=value or --data FILE",
    "quarantine-id": "'archive inbox failed' lists the quarantined files with their ids",
}

# the library names the fields a "nothing to change" lacks; the CLI names its options
OPTIONS = {"display_name": "--display-name NAME", "set": "--set FIELD=VALUE", "title": "--title",
           "number": "--number", "date": "--date"}


def cli_hint(exc: ArchiveError) -> str | None:
    """The CLI's hint for ``exc``: its own for a code it knows, else the library's."""
    text = CLI_HINTS.get(exc.code or "")
    if text is None:
        return exc.hint
    data = dict(exc.data)
    if "fields" in data:
        *rest, last = [OPTIONS.get(f, f) for f in data["fields"]]
        data["options"] = f"{', '.join(rest)} or {last}" if rest else last
    try:
        return text.format(**data)
    except (KeyError, IndexError):  # a raise site without the data: the library's own words
        return exc.hint
