"""Control files edited by hand (issue 13): every file that decides who holds
a key or what the policy is, edited the way someone who can write the disk
but knows no passphrase would, each edit followed by the archive's own
checks and by routine admin work through the CLI.

The files: ``vault/users.json``, ``vault/keys.json``, ``vault/trust.json``,
``vault/policy.json``, ``policies/{classes,types,departments,grants}.toml``
and ``templates/catalog.toml`` (and ``archive.toml``'s audit path, with the
log-place edits of ``trust.json``). The attacker reads them all, computes the
trust root's fingerprint from ``trust.json``, makes keyrings of their own
(``crypto.create_keyring``, some vouching for the real root), knows the keys
they plant, and signs with their own Ed25519 key where a record wants a
signature.

Setup: a small archive (documents filed through the inbox), then a history of
routine admin work whose control files are saved after every step, so that
earlier, validly signed copies exist to roll back to: ``frank`` (credit) and
``adam`` (archive: a new administrator, a signed admin-list record) added,
``gina`` (marketing) added *by adam*, a policy edit signed with ``policy
sync``, a contract filed, ``frank`` and then ``adam`` removed (adam's
endorsements are signed again by alice). The result is the pristine home
that every edit starts from (restored between edits: only changed files are
copied back).

Each edit, on the pristine home:

1. ``archive verify`` as alice, before anything else: the edit is *detected*
   if the sign-in or the check exits non-zero (a signature that fails: exit
   5; a policy file that differs from the signed copy: exit 6; a rollback to
   an older, validly signed copy or a change that keeps every signature:
   exit 1, from the comparison with the hashes the audit log recorded);
2. routine admin work, each command a child process: ``user add wendy``,
   ``file`` (a document of the class a planted key targets, by a user of
   that class), ``reindex``, ``user remove wendy`` (a rotation, which would
   adopt a planted pending generation), ``policy sync`` (last);
3. what the attacker could have gained, checked in this process: every
   sealed copy in a ``keys.json`` the archive wrote must open with the key of
   a user an administrator endorsed (in the legitimate history, or ``wendy``
   whom the work added) and hold no key the attacker knows; no slot key file
   and not the directory may open with a planted key; no audit event's
   sealed details may open with a planted audit key; a keyring the attacker
   made must not list documents (``archive ls``); no traceback; no hang;
4. if any admin command succeeded: ``archive verify`` again, which must
   still report the edit (the commit recorded the replaced file's hash).

What may succeed, by design (and is counted apart, not as a failure):

- ``policy sync`` after an edit of a policy file or the catalog: it *is* the
  administrator's review (it prints the diff and signs it); the figure checks
  that the diff it printed names the edited file. Everything before it must
  be refused (exit 6).
- A *rollback* (a whole file, or one record, put back from an earlier copy
  that an administrator in office signed): the signatures are valid, so the
  archive cannot refuse it at sign-in; ``archive verify`` finds it by the
  audit log's hashes (docs/threat-model.md, "Restoring an old backup"). The
  admin work may then succeed, and what it does with the old state (a
  removed user active again gets keys at the next ``policy sync``) is shown
  as context.
- A *no-op* edit: a JSON file re-serialised with other whitespace and key
  order. Signatures are over canonical JSON, so nothing changed that the
  archive uses; ``verify`` reports the bytes as changed outside the archive.

A self-test of the harness: ``STRESS_CONTROL_BREAK=unsigned-accepted`` runs
every CLI child with a ``sitecustomize`` that makes the signature, key-check
and policy-file checks pass (a simulated vulnerable build); the must-be-zero
figures must then fail.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

from common import ARCHIVE, Context, Workspace, passphrase
from tamper import Pristine

from archive_manager.audit.details import open_details
from archive_manager.crypto import UnlockedKeyring, create_keyring, hpke_seal, kem_generate, kem_public_bytes
from archive_manager.crypto.encoding import b64d, b64e
from archive_manager.crypto.kdf import PROFILES
from archive_manager.crypto.keyring import new_keys, rekey_keyring, unlock_keyring
from archive_manager.crypto.primitives import unwrap_key
from archive_manager.errors import ArchiveError
from archive_manager.vault.classkeys import AUDIT, DIRECTORY, ClassKeyStore
from archive_manager.vault.directory import Directory
from archive_manager.vault.slot import Slot
from archive_manager.vault.trust import CONTEXT, TrustFile, canonical

SECTION = "control"
USERS, KEYS, TRUST, POLICY = "vault/users.json", "vault/keys.json", "vault/trust.json", "vault/policy.json"
POLICY_FILES = ("policies/classes.toml", "policies/types.toml", "policies/departments.toml",
                "policies/grants.toml", "templates/catalog.toml")
CONTROL_FILES = (USERS, KEYS, TRUST, POLICY, *POLICY_FILES)
CONFIG = "archive.toml"
CLI_TIMEOUT = 120
BREAK = os.environ.get("STRESS_CONTROL_BREAK", "")

# the class a document type of the routine filing belongs to, and who files it
FILING = {"contract": ("contract", "bob"), "credit": ("credit-report", "carol"), "basic": ("client-profile", "alice"),
          "business": ("requirements", "bea"), "project": ("plan", "bea"),
          "communication": ("minutes", "bea"), "service": ("complaint", "bob")}
WORKER = "wendy"  # the user the routine work adds and removes

# the quick run: the first variant of these (file, kind) pairs, one or two a file
QUICK = {
    (USERS, "user added by hand"), (USERS, "old record put back"), (USERS, "rollback to an earlier copy"),
    (KEYS, "generation planted"), (KEYS, "audit public key swapped"), (KEYS, "re-serialised (no-op)"),
    (TRUST, "admin record appended"), (TRUST, "log path changed"),
    (POLICY, "grants widened in the signed copy"), (POLICY, "rollback with the policy files"),
    ("policies/classes.toml", "type moved between classes"), ("policies/types.toml", "type added"),
    ("policies/departments.toml", "department added"), ("policies/grants.toml", "contract given to marketing"),
    ("templates/catalog.toml", "output type changed"),
}


# --- the attacker and the edits -----------------------------------------------------------------

@dataclass
class Attacker:
    """What the attacker knows after an edit."""
    keys: set[bytes] = field(default_factory=set)              # class keys and audit secrets planted
    audit_publics: set[bytes] = field(default_factory=set)
    keyrings: dict[str, str] = field(default_factory=dict)     # user name -> the attacker's passphrase


@dataclass
class Edit:
    file: str        # the control file targeted (a label for the table)
    kind: str        # e.g. "generation planted"
    label: str       # the variant
    writes: dict[str, bytes]   # home-relative path -> new bytes
    expect: str = "refused"    # refused | rollback | no-op
    attacker: Attacker = field(default_factory=Attacker)
    target_class: str | None = None  # the class the routine filing should use

    @property
    def policy_edit(self) -> bool:
        return all(p in POLICY_FILES for p in self.writes)

    @property
    def name(self) -> str:
        return f"{self.file}: {self.kind} ({self.label})"


def _dump(data: dict) -> bytes:
    """As the archive writes JSON (``fsio.dump_json``)."""
    return json.dumps(data, ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8")


def _copy(value):
    return json.loads(json.dumps(value))


def _message(kind: str, vault_id: str, body: dict) -> bytes:
    """What a signed record's signature covers (``trust._message``)."""
    return CONTEXT + canonical({"kind": kind, "vault": vault_id, "body": body})


@dataclass
class Prepared:
    ws: Workspace
    history: list[tuple[str, dict[str, bytes]]]   # (after which step, control file bytes)
    pristine: dict[str, bytes]                    # the control files (and archive.toml) as edits find them
    vault_id: str
    fingerprint: bytes
    legit: dict[str, UnlockedKeyring]             # every user an administrator ever endorsed
    removed: set[str]                              # removed in the legitimate history
    classes: list[str]
    log_size: int

    def json(self, rel: str) -> dict:
        return json.loads(self.pristine[rel])

    def text(self, rel: str) -> str:
        return self.pristine[rel].decode("utf-8")


class Maker:
    """Builds the edits from the pristine files, with a seeded attacker."""

    def __init__(self, p: Prepared, rng: random.Random) -> None:
        self.p, self.rng = p, rng
        self.kdf = PROFILES["test"]

    def randbytes(self, n: int) -> bytes:
        return self.rng.randbytes(n)

    def keyring(self, name: str, root: bool, att: Attacker) -> tuple[dict, UnlockedKeyring]:
        pw = f"attacker-{name}-{self.rng.randrange(10**6)}"
        record, keys = create_keyring(name, pw, self.kdf, self.randbytes, root=self.p.fingerprint if root else None)
        att.keyrings[name] = pw
        return record, keys

    def users(self) -> dict:
        return self.p.json(USERS)

    def active(self, exclude=("alice", "svc")) -> list[str]:
        return sorted(n for n, r in self.users()["users"].items() if r["status"] == "active" and n not in exclude)

    # --- vault/users.json ---------------------------------------------------------------------

    def users_edits(self) -> list[Edit]:
        out = []
        p, rng = self.p, self.rng
        for depts, root, endorse in ((["legal", "credit"], False, None), (["archive"], True, "copied"),
                                     (["audit"], True, "self"), (["marketing"], True, "copied")):
            att = Attacker()
            data = self.users()
            record, keys = self.keyring("mallory", root, att)
            entry = {"departments": depts, "created": data["users"]["bob"]["created"], "status": "active",
                     "keyring": record}
            how = "no signature"
            if endorse == "copied":
                donor = rng.choice(sorted(data["users"]))
                entry["endorsement"] = _copy(data["users"][donor]["endorsement"])
                how = f"{donor}'s endorsement copied"
            elif endorse == "self":
                body = {"name": "mallory", "departments": depts, "created": entry["created"], "status": "active",
                        "kem_public": record["kem_public"], "sign_public": record["sign_public"]}
                entry["endorsement"] = {"by": "mallory", "sig": b64e(keys.sign(_message("user", p.vault_id, body)))}
                how = "signed by mallory"
            data["users"]["mallory"] = entry
            out.append(Edit(USERS, "user added by hand", f"mallory in {'+'.join(depts)}, "
                            f"{'keyring vouching for the real root' if root else 'own keyring'}, {how}",
                            {USERS: _dump(data)}, attacker=att))
        for user in rng.sample(self.active(), 3):
            data = self.users()
            data["users"][user]["departments"].append("archive")
            out.append(Edit(USERS, "department added to a user", f"archive added to {user}", {USERS: _dump(data)}))
        for user in rng.sample(self.active(), 2):
            data = self.users()
            had = data["users"][user]["departments"]
            new = rng.choice([d for d in ("credit", "legal", "business", "management") if d not in had])
            data["users"][user]["departments"] = [new]
            out.append(Edit(USERS, "departments changed", f"{user}: {'+'.join(had)} -> {new}", {USERS: _dump(data)}))
        for _ in range(2):
            a, b = rng.sample(self.active(exclude=()), 2)
            data = self.users()
            data["users"][a]["endorsement"] = _copy(data["users"][b]["endorsement"])
            data["users"][a]["departments"] = list(data["users"][b]["departments"])
            out.append(Edit(USERS, "endorsement copied from another record",
                            f"{a} given {b}'s departments and endorsement", {USERS: _dump(data)}))
        for user in rng.sample(self.active(), 2):
            att = Attacker()
            data = self.users()
            record, _ = self.keyring(user, True, att)
            data["users"][user]["keyring"] = record
            out.append(Edit(USERS, "keyring replaced", f"{user}'s keyring replaced by the attacker's "
                            "(real root, endorsement kept)", {USERS: _dump(data)}, attacker=att))
        for user in sorted(p.removed):
            data = self.users()
            data["users"][user]["status"] = "active"
            out.append(Edit(USERS, "removed user reactivated", f"{user}: status active", {USERS: _dump(data)}))
        data = self.users()
        victim = rng.choice(self.active())
        del data["users"][victim]["endorsement"]
        out.append(Edit(USERS, "endorsement removed", victim, {USERS: _dump(data)}))
        # one record put back from an earlier copy: signed by an admin in office (a rollback),
        # or by an administrator since removed
        for user in ("frank", "gina", "adam"):
            now = self.users()["users"].get(user)
            for step, files in reversed(p.history):
                rec = json.loads(files[USERS])["users"].get(user)
                if rec and rec["status"] == "active" and rec != now:
                    break
            else:
                continue
            data = self.users()
            data["users"][user] = rec
            signer = rec["endorsement"]["by"]
            # signed by an administrator in office: a rollback the signatures cannot show
            expect = "rollback" if signer in ("alice", "svc") and "archive" not in rec["departments"] else "refused"
            out.append(Edit(USERS, "old record put back", f"{user}'s record from after '{step}' (signed by {signer})",
                            {USERS: _dump(data)}, expect=expect))
        out += self.common(USERS)
        return out

    # --- vault/keys.json ----------------------------------------------------------------------

    def holders_public(self, names) -> dict[str, bytes]:
        users = self.users()["users"]
        return {n: b64d(users[n]["keyring"]["kem_public"]) for n in names}

    def audit_attacker(self):
        """An attacker holding an audit key pair of their own: (attacker, its secret)."""
        att = Attacker()
        secret = kem_generate(self.randbytes)
        att.keys.add(secret)
        att.audit_publics.add(kem_public_bytes(secret))
        return att, secret

    def plant(self, data: dict, cls: str, key: bytes, pending: bool, check: bool, public: bytes | None = None) -> int:
        store = ClassKeyStore(self.p.vault_id, data)
        entry = data["classes"][cls]
        gen = max(int(g) for g in entry["gens"]) + 1
        holders = sorted(entry["gens"][str(entry["current"])])
        entry["gens"][str(gen)] = {u: b64e(hpke_seal(pub, key, store._info(cls, gen, u)))
                                   for u, pub in self.holders_public(holders).items()}
        entry["current"] = gen
        if check:
            entry.setdefault("checks", {})[str(gen)] = store._check_value(cls, gen, key)
        if public is not None:
            entry.setdefault("public", {})[str(gen)] = b64e(public)
        if pending:
            data["pending_rotation"] = sorted(set(data.get("pending_rotation", [])) | {cls})
        return gen

    def keys_edits(self) -> list[Edit]:
        out, rng = [], self.rng
        for cls, pending, check in (("contract", True, True), ("credit", True, False), ("basic", False, True),
                                    (DIRECTORY, True, True), ("service", True, True)):
            att = Attacker()
            key = self.randbytes(32)
            att.keys.add(key)
            data = self.p.json(KEYS)
            gen = self.plant(data, cls, key, pending, check)
            out.append(Edit(KEYS, "generation planted", f"{cls} gen {gen} current, sealed to its holders"
                            f"{', pending rotation' if pending else ''}{', key check computed' if check else ''}",
                            {KEYS: _dump(data)}, attacker=att, target_class=cls if cls in FILING else None))
        cls = "contract"
        data = self.p.json(KEYS)
        entry = data["classes"][cls]
        holder = rng.choice(sorted(u for u in entry["gens"][str(entry["current"])] if u not in ("alice", "svc")))
        att = Attacker()
        key = self.randbytes(32)
        att.keys.add(key)
        store = ClassKeyStore(self.p.vault_id, data)
        g = int(entry["current"])
        entry["gens"][str(g)][holder] = b64e(hpke_seal(self.holders_public([holder])[holder], key,
                                                       store._info(cls, g, holder)))
        out.append(Edit(KEYS, "holder's sealed key replaced", f"{holder}'s copy of {cls} gen {g}: the attacker's key",
                        {KEYS: _dump(data)}, attacker=att, target_class=cls))
        # an entry for someone nobody endorsed
        att = Attacker()
        _, keys = self.keyring("mallory", True, att)
        data = self.p.json(KEYS)
        store = ClassKeyStore(self.p.vault_id, data)
        for c in ("contract", DIRECTORY):
            e = data["classes"][c]
            e["gens"][str(e["current"])]["mallory"] = b64e(hpke_seal(keys.identity.kem_public, self.randbytes(32),
                                                                     store._info(c, int(e["current"]), "mallory")))
        out.append(Edit(KEYS, "key sealed to an unknown user", "mallory: contract and directory",
                        {KEYS: _dump(data)}, attacker=att))
        # the audit key
        att, secret = self.audit_attacker()
        data = self.p.json(KEYS)
        a = data["classes"][AUDIT]
        a["public"][str(a["current"])] = b64e(kem_public_bytes(secret))
        out.append(Edit(KEYS, "audit public key swapped", f"public half of audit key {a['current']}",
                        {KEYS: _dump(data)}, attacker=att))
        att, secret = self.audit_attacker()
        data = self.p.json(KEYS)
        gen = self.plant(data, AUDIT, secret, False, True, public=kem_public_bytes(secret))
        out.append(Edit(KEYS, "audit generation planted", f"audit key {gen} current, sealed to the auditors",
                        {KEYS: _dump(data)}, attacker=att))
        data = self.p.json(KEYS)
        cls = rng.choice(self.p.classes)
        data["pending_rotation"] = sorted(set(data.get("pending_rotation", [])) | {cls})
        out.append(Edit(KEYS, "rotation marked pending", cls, {KEYS: _dump(data)}))
        data = self.p.json(KEYS)
        cls = rng.choice(self.p.classes)
        e = data["classes"][cls]
        victim = rng.choice(sorted(e["gens"][str(e["current"])]))
        del e["gens"][str(e["current"])][victim]
        out.append(Edit(KEYS, "sealed copy removed", f"{victim}'s {cls}", {KEYS: _dump(data)}))
        data = self.p.json(KEYS)
        cls = rng.choice(self.p.classes)
        data["classes"][cls].pop("checks", None)
        out.append(Edit(KEYS, "key checks removed", cls, {KEYS: _dump(data)}))
        for donor in (POLICY, USERS):
            data = self.p.json(KEYS)
            d = self.p.json(donor)
            data["endorsement"] = _copy(d["endorsement"] if donor == POLICY else d["users"]["alice"]["endorsement"])
            out.append(Edit(KEYS, "endorsement copied from another record", f"from {donor}", {KEYS: _dump(data)}))
        out += self.common(KEYS)
        return out

    # --- vault/trust.json ---------------------------------------------------------------------

    def trust_edits(self) -> list[Edit]:
        out, p = [], self.p
        base = p.json(TRUST)
        chain = base["admins"]

        def admin_record(data, admins: dict, by: str, keys: UnlockedKeyring, seq=None, prev=None) -> dict:
            last = data["admins"][-1] if data["admins"] else None
            body = {"seq": seq or len(data["admins"]) + 1,
                    "prev": prev or (hashlib.sha256(canonical(last)).hexdigest() if last else p.fingerprint.hex()),
                    "time": chain[-1]["time"], "by": by, "admins": admins}
            body["sig"] = b64e(keys.sign(_message("admins", p.vault_id, body)))
            return body

        for by, with_user in (("mallory", False), ("alice", False), ("mallory", True)):
            att = Attacker()
            record, keys = self.keyring("mallory", True, att)
            data = _copy(base)
            admins = {**chain[-1]["admins"], "mallory": record["sign_public"]}
            data["admins"].append(admin_record(data, admins, by, keys))
            writes = {TRUST: _dump(data)}
            label = f"mallory added, signed by the attacker as {by!r}"
            if with_user:
                users = self.users()
                body = {"name": "mallory", "departments": ["archive"], "created": users["users"]["bob"]["created"],
                        "status": "active", "kem_public": record["kem_public"], "sign_public": record["sign_public"]}
                sig = b64e(keys.sign(_message("user", p.vault_id, body)))
                users["users"]["mallory"] = {"departments": ["archive"], "created": body["created"], "status": "active",
                                             "keyring": record, "endorsement": {"by": "mallory", "sig": sig}}
                writes[USERS] = _dump(users)
                label += ", with a matching archive user record signed by mallory"
            out.append(Edit(TRUST, "admin record appended", label, writes, attacker=att))
        data = _copy(base)
        data["admins"].pop()
        out.append(Edit(TRUST, "admin record removed", f"the last (record {len(chain)})", {TRUST: _dump(data)}))
        data = _copy(base)
        data["admins"].pop(1)
        out.append(Edit(TRUST, "admin record removed", "record 2 of the middle", {TRUST: _dump(data)}))
        data = _copy(base)
        data["admins"][1], data["admins"][2] = data["admins"][2], data["admins"][1]
        out.append(Edit(TRUST, "admin records reordered", "records 2 and 3 swapped", {TRUST: _dump(data)}))
        data = _copy(base)
        data["admins"].append(_copy(chain[1]))
        out.append(Edit(TRUST, "admin record replayed", "record 2 (adam in office) appended again as it was",
                        {TRUST: _dump(data)}))
        data = _copy(base)
        again = _copy(chain[1])
        again["seq"], again["prev"] = len(chain) + 1, hashlib.sha256(canonical(chain[-1])).hexdigest()
        data["admins"].append(again)
        out.append(Edit(TRUST, "admin record replayed", "record 2 renumbered to follow the last (its signature kept)",
                        {TRUST: _dump(data)}))
        att = Attacker()
        record, keys = self.keyring("mallory", True, att)
        data = _copy(base)
        data["root"]["admins"]["mallory"] = record["sign_public"]
        out.append(Edit(TRUST, "root admin added", "mallory in the root", {TRUST: _dump(data)}, attacker=att))
        out.append(self.forged_root())
        for path in ("../audit-elsewhere/events.log", "../audit/../audit/events.log"):
            data = _copy(base)
            data["log"]["path"] = path
            out.append(Edit(TRUST, "log path changed", f"{path!r}, endorsement kept", {TRUST: _dump(data)}))
        data = _copy(base)
        data["log"]["path"] = "../audit-elsewhere/events.log"
        out.append(Edit(TRUST, "log path changed", "to a copy of the log, archive.toml pointing there",
                        {TRUST: _dump(data), **self.moved_log()}))
        out.append(Edit(CONFIG, "log path changed", "archive.toml alone pointing at a copy of the log",
                        self.moved_log()))
        data = _copy(base)
        data["log"]["endorsement"] = _copy(p.json(USERS)["users"]["alice"]["endorsement"])
        out.append(Edit(TRUST, "endorsement copied from another record", "alice's user record's onto the log's place",
                        {TRUST: _dump(data)}))
        out += self.common(TRUST)
        return out

    def moved_log(self) -> dict[str, bytes]:
        home = self.p.ws.home_dir
        text = self.p.pristine[CONFIG].decode("utf-8")
        new = text.replace('audit = "audit"', 'audit = "audit-elsewhere"', 1)
        assert new != text, "archive.toml has no audit path to change"
        return {CONFIG: new.encode("utf-8"),
                "audit-elsewhere/events.log": (home / "audit" / "events.log").read_bytes()}

    def forged_root(self) -> Edit:
        """A new root naming the attacker, and every vault record signed again by them."""
        p = self.p
        att = Attacker()
        keys = new_keys("mallory", self.randbytes)
        trust = p.json(TRUST)
        trust["root"]["admins"] = {"mallory": b64e(keys.identity.sign_public)}
        keys = replace(keys, root=hashlib.sha256(canonical(trust["root"])).digest())  # the attacker's own root
        pw = att.keyrings["mallory"] = f"attacker-mallory-{self.rng.randrange(10**6)}"
        record = rekey_keyring(keys, pw, self.kdf, self.randbytes)
        trust["admins"] = []

        def sign(kind, body):
            return {"by": "mallory", "sig": b64e(keys.sign(_message(kind, p.vault_id, body)))}

        trust["log"]["endorsement"] = sign("audit-log", {"path": trust["log"]["path"]})
        users = self.users()
        for name, rec in users["users"].items():
            if "archive" in rec["departments"]:
                rec["departments"] = [d for d in rec["departments"] if d != "archive"] or ["management"]
        users["users"]["mallory"] = {"departments": ["archive"], "created": users["users"]["bob"]["created"],
                                     "status": "active", "keyring": record}
        for name, rec in users["users"].items():
            body = {"name": name, "departments": rec["departments"], "created": rec["created"],
                    "status": rec["status"], "kem_public": rec["keyring"].get("kem_public"),
                    "sign_public": rec["keyring"].get("sign_public")}
            rec["endorsement"] = sign("user", body)
        store = p.json(KEYS)
        store.pop("endorsement")
        store["endorsement"] = sign("class-keys", store)
        policy = p.json(POLICY)
        policy.pop("endorsement")
        policy["endorsement"] = sign("policy", policy)
        return Edit(TRUST, "root replaced", "a root naming mallory; every vault record signed again by mallory",
                    {TRUST: _dump(trust), USERS: _dump(users), KEYS: _dump(store), POLICY: _dump(policy)},
                    attacker=att)

    # --- vault/policy.json ---------------------------------------------------------------------

    def policy_edits(self) -> list[Edit]:
        out = []
        grants = self.p.text("policies/grants.toml")
        wider = grants.replace('[marketing]\nclasses = ["basic", "business"]',
                               '[marketing]\nclasses = ["basic", "business", "contract"]', 1)
        assert wider != grants
        for also_files in (False, True):
            data = self.p.json(POLICY)
            data["files"]["grants.toml"] = wider
            writes = {POLICY: _dump(data)}
            if also_files:
                writes["policies/grants.toml"] = wider.encode("utf-8")
            out.append(Edit(POLICY, "grants widened in the signed copy",
                            "contract to marketing" + (", policies/grants.toml edited to match" if also_files else ""),
                            writes))
        data = self.p.json(POLICY)
        data["files"]["classes.toml"] = _move_type(data["files"]["classes.toml"], "contract", "basic")
        out.append(Edit(POLICY, "type moved in the signed copy", "contract into basic", {POLICY: _dump(data)}))
        data = self.p.json(POLICY)
        data["catalog"] = data["catalog"].replace('output_type = "contract-amendment"',
                                                  'output_type = "client-profile"', 1)
        out.append(Edit(POLICY, "catalog changed in the signed copy", "contract-amendment files as client-profile",
                        {POLICY: _dump(data)}))
        data = self.p.json(POLICY)
        data["seq"] += 5
        out.append(Edit(POLICY, "sequence number changed", f"seq {data['seq']}", {POLICY: _dump(data)}))
        data = self.p.json(POLICY)
        data["endorsement"] = _copy(self.p.json(KEYS)["endorsement"])
        out.append(Edit(POLICY, "endorsement copied from another record", "keys.json's", {POLICY: _dump(data)}))
        out += self.common(POLICY)
        # the signed copy and the files it signed, put back together (consistent, validly signed)
        for step, files in self.earlier(POLICY):
            writes = {POLICY: files[POLICY], **{f: files[f] for f in POLICY_FILES if files[f] != self.p.pristine[f]}}
            out.append(Edit(POLICY, "rollback with the policy files", f"the copies from after '{step}'", writes,
                            expect="rollback"))
        return out

    # --- policies/*.toml and templates/catalog.toml ----------------------------------------------

    def policy_file_edits(self) -> list[Edit]:
        out = []

        def edit(rel, kind, label, old, new, count=1):
            text = self.p.text(rel)
            assert text.count(old) >= 1, (rel, old)
            out.append(Edit(rel, kind, label, {rel: text.replace(old, new, count).encode("utf-8")}))

        c = "policies/classes.toml"
        text = self.p.text(c)
        for t, to in (("contract", "basic"), ("credit-report", "business"), ("complaint", "communication")):
            out.append(Edit(c, "type moved between classes", f"{t} into {to}",
                            {c: _move_type(text, t, to).encode("utf-8")}))
        out.append(Edit(c, "class added", "a 'secret' class holding survey", {c: (
            _move_type(text, "survey", "") + '\n[secret]\nname = "机密"\ntypes = ["survey"]\n').encode("utf-8")}))
        edit(c, "comment edited", "one word of a comment", "Identifiers are fixed", "Identifiers are stable")
        t = "policies/types.toml"
        edit(t, "type added", "'memo'", '[survey]\nname = "满意度调查"',
             '[survey]\nname = "满意度调查"\n[memo]\nname = "备忘录"')
        edit(t, "display name changed", "contract", '[contract]\nname = "合同"', '[contract]\nname = "合约"')
        d = "policies/departments.toml"
        edit(d, "department added", "'sales'", '[audit]\nname = "审计部"',
             '[audit]\nname = "审计部"\n[sales]\nname = "销售部"')
        edit(d, "department removed", "marketing", '[marketing]\nname = "市场部"\n', "")
        edit(d, "comment edited", "a blank line added", "[archive]", "\n[archive]")
        g = "policies/grants.toml"
        mk = '[marketing]\nclasses = ["basic", "business"]\nactions = ["read", "search"]'
        edit(g, "admin given to marketing", "", mk, mk.replace('"search"]', '"search", "admin"]'))
        edit(g, "contract given to marketing", "", mk, mk.replace('"business"]', '"business", "contract"]'))
        edit(g, "export given to marketing", "", mk, mk.replace('"search"]', '"search", "export"]'))
        edit(g, "audit given to legal", "", '"export", "generate"]\n\n[management]',
             '"export", "generate", "audit"]\n\n[management]')
        k = "templates/catalog.toml"
        edit(k, "output type changed", "contract-amendment files as client-profile",
             'output_type = "contract-amendment"', 'output_type = "client-profile"')
        edit(k, "variable made given", "client.name of the admission form may be set",
             '"client.name" = { type = "text", source = "profile" }',
             '"client.name" = { type = "text", source = "given" }')
        edit(k, "template file changed", "the dunning letter renders another file",
             'file = "dunning-letter.docx"', 'file = "admission-form.docx"')
        for rel in POLICY_FILES:
            for step, files in self.earlier(rel):
                out.append(Edit(rel, "rollback to an earlier copy", f"the copy from after '{step}'", {rel: files[rel]}))
        return out

    # --- every vault file: put back, re-serialised ---------------------------------------------

    def earlier(self, rel: str) -> list[tuple[str, dict[str, bytes]]]:
        """Distinct earlier copies of ``rel`` (newest first)."""
        seen, out = {self.p.pristine[rel]}, []
        for step, files in reversed(self.p.history):
            if files[rel] not in seen:
                seen.add(files[rel])
                out.append((step, files))
        return out

    def common(self, rel: str) -> list[Edit]:
        out = []
        for step, files in self.earlier(rel):
            out.append(Edit(rel, "rollback to an earlier copy", f"the copy from after '{step}'", {rel: files[rel]},
                            expect="rollback"))
        data = self.p.json(rel)
        out.append(Edit(rel, "re-serialised (no-op)", "indent 3, keys unsorted, ASCII escapes",
                        {rel: json.dumps(_unsorted(data), indent=3, ensure_ascii=True).encode("ascii")},
                        expect="no-op"))
        return out

    def whole_vault(self) -> list[Edit]:
        """Every vault control file put back together from one earlier step."""
        out = []
        for step, files in list(reversed(self.p.history))[:3]:
            writes = {f: files[f] for f in CONTROL_FILES if files[f] != self.p.pristine[f]}
            if writes:
                out.append(Edit("all control files", "rollback to an earlier copy",
                                f"every control file from after '{step}'", writes, expect="rollback"))
        return out

    def all(self) -> list[Edit]:
        edits = (self.users_edits() + self.keys_edits() + self.trust_edits() + self.policy_edits()
                 + self.policy_file_edits() + self.whole_vault())
        return [e for e in edits if any(self.p.pristine.get(rel) != data for rel, data in e.writes.items())]


def _unsorted(value):
    if isinstance(value, dict):
        return {k: _unsorted(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_unsorted(v) for v in value]
    return value


def _move_type(classes_toml: str, doc_type: str, to: str) -> str:
    """classes.toml with ``doc_type`` taken out of its class and put first into ``to``."""
    lines, cls = [], None
    for line in classes_toml.split("\n"):
        if line.startswith("["):
            cls = line.strip("[]")
        if line.startswith("types = ["):
            types = json.loads(line.split("=", 1)[1])
            types = [t for t in types if t != doc_type]
            if cls == to:
                types.insert(0, doc_type)
            line = "types = " + json.dumps(types, ensure_ascii=False).replace('","', '", "')
        lines.append(line)
    return "\n".join(lines)


# --- the archive and its history -----------------------------------------------------------------

def _env(ws: Workspace, user: str | None, pw: str | None = None) -> dict:
    env = ws.env(user)
    if pw is not None:
        env["ARCHIVE_PASSPHRASE"] = pw
    if BREAK == "unsigned-accepted":
        shim = ws.root / "vulnerable-build"
        shim.mkdir(exist_ok=True)
        (shim / "sitecustomize.py").write_text(VULNERABLE, encoding="utf-8")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(shim), env.get("PYTHONPATH")]))
    return env


VULNERABLE = '''\
# STRESS_CONTROL_BREAK=unsigned-accepted: a simulated build that trusts unsigned control records
from archive_manager.vault import classkeys, signed_policy, trust, users
trust.Trust.check = lambda self, *a, **k: None
trust.Trust.endorsed = lambda self, *a, **k: True
users.UserRegistry.verify = lambda self, t: self
signed_policy.SignedPolicy.check_files = lambda self, *a, **k: None
classkeys.ClassKeyStore._check_key = lambda self, *a, **k: None
'''


@dataclass
class Run:
    args: tuple[str, ...]
    user: str
    code: int | None        # None: hung
    stdout: str
    stderr: str
    seconds: float


def _cli(ws: Workspace, *args: str, user: str, pw: str | None = None) -> Run:
    start = time.monotonic()
    try:
        r = subprocess.run([ARCHIVE, *args], env=_env(ws, user, pw), capture_output=True, timeout=CLI_TIMEOUT,
                           cwd=ws.root)
        code, out, err = r.returncode, r.stdout, r.stderr
    except subprocess.TimeoutExpired as exc:
        code, out, err = None, exc.stdout or b"", exc.stderr or b""
    return Run(args, user, code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
               time.monotonic() - start)


def _ok(ws: Workspace, *args: str, user: str) -> Run:
    r = _cli(ws, *args, user=user)
    if r.code != 0:
        raise RuntimeError(f"archive {' '.join(args)} as {user}: exit {r.code}: {r.stderr[-800:]}")
    return r


def _snapshot(ws: Workspace) -> dict[str, bytes]:
    return {rel: (ws.home_dir / rel).read_bytes() for rel in (*CONTROL_FILES, CONFIG)}


def _secret(ws: Workspace, name: str) -> str:
    path = ws.secret_file(name)
    path.write_text(passphrase(name) + "\n", encoding="utf-8")  # mode 0600: common sets umask 077
    return str(path)


def _add_user(ws: Workspace, name: str, dept: str, by: str = "alice") -> None:
    _secret(ws, name)
    _ok(ws, "user", "add", name, "--dept", dept, "--new-passphrase-file", str(ws.secret_file(name)), user=by)


def _prepare(ctx: Context) -> Prepared:
    ws = ctx.workspace("control", n_clients=ctx.scale(5, 3), canary_clients=1)
    for d in ws.documents(ctx.scale(14, 6)):
        ws.drop(d)
    r = _ok(ws, "ingest", "--json", user="svc")
    bad = [f for f in json.loads(r.stdout)["files"] if f["status"] not in ("filed", "new-version")]
    if bad:
        raise RuntimeError(f"ingest did not file everything: {bad}")
    history = [("init, users, documents", _snapshot(ws))]

    def step(label: str, fn) -> None:
        fn()
        history.append((label, _snapshot(ws)))

    step("user add frank (credit)", lambda: _add_user(ws, "frank", "credit"))
    step("user add adam (archive)", lambda: _add_user(ws, "adam", "archive"))
    step("user add gina (marketing), by adam", lambda: _add_user(ws, "gina", "marketing", by="adam"))

    def policy_change():
        types = ws.home_dir / "policies" / "types.toml"
        types.write_text(types.read_text(encoding="utf-8") + '[press-release]\nname = "新闻稿"\n', encoding="utf-8")
        classes = ws.home_dir / "policies" / "classes.toml"
        classes.write_text(_move_type(classes.read_text(encoding="utf-8"), "press-release", "service"),
                           encoding="utf-8")
        _ok(ws, "policy", "sync", user="alice")

    step("policy sync of a new type", policy_change)

    def file_contract():
        src = ws.root / "work" / "history-contract.txt"
        src.parent.mkdir(exist_ok=True)
        src.write_text("广告发布合同 history", encoding="utf-8")
        _ok(ws, "file", str(src), "--client", sorted(ws.clients)[0], "--type", "contract", user="bob")
        src.unlink()

    step("a contract filed", file_contract)
    step("user remove frank", lambda: _ok(ws, "user", "remove", "frank", user="alice"))
    _ok(ws, "user", "remove", "adam", user="alice")  # the pristine state
    pristine = _snapshot(ws)
    trust = TrustFile.load(ws.home_dir / TRUST)
    legit: dict[str, UnlockedKeyring] = {}
    for _, files in [*history, ("now", pristine)]:
        for name, rec in json.loads(files[USERS])["users"].items():
            if "sealed_private" in rec["keyring"]:
                legit[name] = unlock_keyring(name, rec["keyring"], passphrase(name))
    users = json.loads(pristine[USERS])["users"]
    policy = json.loads(pristine[POLICY])
    classes = sorted(c.strip("[]") for c in policy["files"]["classes.toml"].split("\n") if c.startswith("["))
    return Prepared(ws, history, pristine, trust.root.vault_id, trust.root.fingerprint, legit,
                    {n for n, r in users.items() if r["status"] != "active"}, classes,
                    (ws.home_dir / "audit" / "events.log").stat().st_size)


# --- one attempt --------------------------------------------------------------------------------------

@dataclass
class Attempt:
    edit: Edit
    verify: Run | None = None
    work: list[tuple[str, Run]] = field(default_factory=list)
    verify_after: Run | None = None
    probes: list[Run] = field(default_factory=list)
    unsigned: list[str] = field(default_factory=list)       # sealed to a principal nobody endorsed
    planted: list[str] = field(default_factory=list)        # an attacker's key in a store the archive wrote
    removed: list[str] = field(default_factory=list)        # sealed to a user removed
    under_planted: list[str] = field(default_factory=list)  # slot key files / directory opening with a planted key
    details: list[str] = field(default_factory=list)        # audit details opening with a planted key
    sync_diff_named: bool | None = None
    seconds: float = 0.0

    def runs(self) -> list[Run]:
        return [r for r in (self.verify, self.verify_after) if r] + [r for _, r in self.work] + self.probes


def _apply(home: Path, writes: dict[str, bytes]) -> None:
    for rel, data in writes.items():
        path = home / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _work(p: Prepared, e: Edit, rng: random.Random) -> list[tuple[str, Run]]:
    ws = p.ws
    cls = e.target_class or rng.choice(sorted(FILING))
    doc_type, filer = FILING[cls]
    src = ws.root / "work" / f"routine-{cls}.txt"
    src.parent.mkdir(exist_ok=True)
    src.write_text(f"广告发布 routine {cls} {rng.randrange(10**6)}", encoding="utf-8")
    dept = rng.choice(["legal", "credit", "business"])
    out = [("user add", _cli(ws, "user", "add", WORKER, "--dept", dept, "--new-passphrase-file",
                             _secret(ws, WORKER), user="alice"))]
    if out[-1][1].code == 0:  # the worker is someone an administrator endorsed: a legitimate holder
        rec = json.loads((ws.home_dir / USERS).read_bytes())["users"].get(WORKER)
        if rec and "sealed_private" in rec["keyring"]:
            p.legit[WORKER] = unlock_keyring(WORKER, rec["keyring"], passphrase(WORKER))
    out.append(("file", _cli(ws, "file", str(src), "--client", rng.choice(sorted(ws.clients)), "--type", doc_type,
                             "--json", user=filer)))
    out.append(("reindex", _cli(ws, "reindex", user="alice")))
    out.append(("user remove", _cli(ws, "user", "remove", WORKER, user="alice")))
    out.append(("policy sync", _cli(ws, "policy", "sync", "--json", user="alice")))
    src.unlink()
    return out


def _scan_store(p: Prepared, a: Attempt, removed: set[str]) -> None:
    """Every sealed copy of a keys.json the archive wrote: to an endorsed user's own
    key, holding no key the attacker knows."""
    data = json.loads((p.ws.home_dir / KEYS).read_bytes())
    store = ClassKeyStore(p.vault_id, data)
    for cls, entry in sorted(data.get("classes", {}).items()):
        for g, sealed in sorted(entry.get("gens", {}).items()):
            for user, blob in sorted(sealed.items()):
                where = f"{cls} gen {g} for {user}"
                keys = p.legit.get(user)
                if keys is None:
                    a.unsigned.append(f"{where}: no administrator ever endorsed {user!r}")
                    continue
                try:
                    key = keys.open_sealed(b64d(blob, "sealed key"), store._info(cls, int(g), user))
                except (ArchiveError, ValueError):
                    a.unsigned.append(f"{where}: does not open with {user}'s endorsed key")
                    continue
                if key in a.edit.attacker.keys:
                    current = " (current)" if str(entry["current"]) == g else ""
                    a.planted.append(f"{where}: a key the attacker planted{current}")
                if user in removed:
                    a.removed.append(where)
        for g, public in sorted(entry.get("public", {}).items()):
            if b64d(public, "public key") in a.edit.attacker.audit_publics:
                a.planted.append(f"{cls} gen {g}: the attacker's public key")


def _scan_encrypted(p: Prepared, a: Attempt) -> None:
    """No slot key file and not the directory opens with a key the attacker planted."""
    keys = [k for k in a.edit.attacker.keys if len(k) == 32]
    if not keys:
        return
    vault = p.ws.home_dir / "vault"
    for path in sorted(vault.glob("dossiers/*/*/keys.json")):
        data = json.loads(path.read_bytes())
        gen = int(data["gen"])
        for cls in p.classes:
            slot = Slot(p.vault_id, path.parent.parent.name, cls, path.parent.name, gen, {})
            for epoch, blob in data["epochs"].items():
                for key in keys:
                    try:
                        unwrap_key(key, b64d(blob), slot._key_aad(int(epoch), gen))
                    except ArchiveError:
                        continue
                    a.under_planted.append(f"{path.relative_to(vault)} epoch {epoch} ({cls}, gen {gen})")
    blob = (vault / "directory.bin").read_bytes()
    for key in keys:
        try:
            Directory.open(blob, p.vault_id, lambda g, key=key: key)
        except ArchiveError:
            continue
        a.under_planted.append("directory.bin")


def _scan_details(p: Prepared, a: Attempt) -> None:
    secrets = [k for k in a.edit.attacker.keys if len(k) != 32]
    if not secrets:
        return
    log = (p.ws.home_dir / "audit" / "events.log").read_bytes()[p.log_size:]
    for line in log.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        for secret in secrets:
            if isinstance(open_details(event.get("sealed"), p.vault_id, lambda g, s=secret: s), dict):
                a.details.append(f"event {event.get('seq')} ({event.get('action')})")


def _attempt(p: Prepared, e: Edit, rng: random.Random) -> Attempt:
    ws, a = p.ws, Attempt(e)
    start = time.monotonic()
    p.legit.pop(WORKER, None)
    _apply(ws.home_dir, e.writes)
    keys_before = (ws.home_dir / KEYS).read_bytes()
    a.verify = _cli(ws, "verify", user="alice")
    a.work = _work(p, e, rng)
    removed = set(p.removed)
    if dict(a.work)["user remove"].code == 0:
        removed.add(WORKER)
    if (ws.home_dir / KEYS).read_bytes() != keys_before:  # the archive wrote (and signed) a key store
        _scan_store(p, a, removed)
    _scan_encrypted(p, a)
    _scan_details(p, a)
    for name, pw in sorted(e.attacker.keyrings.items()):
        a.probes.append(_cli(ws, "ls", "--json", user=name, pw=pw))
    if e.expect == "rollback":  # can a user removed in the legitimate history read again?
        for name in sorted(p.removed):
            a.probes.append(_cli(ws, "ls", "--json", user=name))
    sync = dict(a.work)["policy sync"]
    if e.policy_edit and sync.code == 0:
        try:
            diff = json.loads(sync.stdout).get("diff") or []
        except ValueError:
            diff = []
        a.sync_diff_named = all(any(line.startswith(f"+++ {rel}") for line in diff) for rel in e.writes)
    elif any(r.code == 0 for _, r in a.work):
        a.verify_after = _cli(ws, "verify", user="alice")
    a.seconds = time.monotonic() - start
    return a


def _control(p: Prepared, pristine: Pristine, rng: random.Random) -> list[str]:
    """The same verify and routine work on the untouched home: everything must succeed."""
    pristine.restore()
    e = Edit("none", "control", "untouched", {}, expect="none")
    a = _attempt(p, e, rng)
    bad = [f"verify: exit {a.verify.code}: {a.verify.stderr.strip()[-200:]}"] if a.verify.code != 0 else []
    bad += [f"{name}: exit {r.code}: {r.stderr.strip()[-200:]}" for name, r in a.work if r.code != 0]
    bad += a.unsigned + a.planted + a.removed
    return bad


# --- the section --------------------------------------------------------------------------------------

def run(ctx: Context) -> None:
    t0 = time.monotonic()
    rng = random.Random(ctx.seed + 1313)
    p = _prepare(ctx)
    pristine = Pristine(p.ws.home_dir, p.ws.root / "control-pristine")
    edits = Maker(p, random.Random(ctx.seed + 1314)).all()
    if ctx.quick:
        seen, chosen = set(), []
        for e in edits:
            if (e.file, e.kind) in QUICK and (e.file, e.kind) not in seen:
                seen.add((e.file, e.kind))
                chosen.append(e)
        edits = chosen
    if BREAK:
        print(f"  STRESS_CONTROL_BREAK={BREAK}: a broken run on purpose; figures must fail", flush=True)
    print(f"  setup {time.monotonic() - t0:.1f} s: {len(p.history)} earlier copies, {len(edits)} edits, "
          f"legitimate users ever {len(p.legit)}, removed {', '.join(sorted(p.removed))}", flush=True)
    attempts: list[Attempt] = []
    controls: list[list[str]] = []
    every = max(1, len(edits) // ctx.scale(3, 1))
    for n, e in enumerate(edits):
        if n % every == 0:
            controls.append(_control(p, pristine, rng))
        pristine.restore()
        attempts.append(_attempt(p, e, rng))
    controls.append(_control(p, pristine, rng))
    pristine.restore()
    shutil.rmtree(pristine.copy)
    _report(ctx, p, attempts, controls)


def _counts(counter: Counter) -> str:
    return ", ".join(f"{k} {n}" for k, n in sorted(counter.items(), key=lambda kv: str(kv[0]))) or "-"


def _report(ctx: Context, p: Prepared, attempts: list[Attempt], controls: list[list[str]]) -> None:
    t = ctx.table
    by_file = defaultdict(Counter)
    for a in attempts:
        by_file[a.edit.file][a.edit.kind] += 1
    files = [f for f in (*CONTROL_FILES, CONFIG, "all control files") if f in by_file]
    t.add(SECTION, "control files edited / edits tried",
          f"{len(files)} / {len(attempts)} (refused-by-design {sum(a.edit.expect == 'refused' for a in attempts)}, "
          f"rollbacks {sum(a.edit.expect == 'rollback' for a in attempts)}, "
          f"no-ops {sum(a.edit.expect == 'no-op' for a in attempts)})")
    for f in files:
        t.add(SECTION, f"  {f}: edits by kind", _counts(by_file[f]))
    codes = defaultdict(Counter)
    for a in attempts:
        group = ("policy files" if a.edit.policy_edit
                 else "vault records" if a.edit.expect == "refused" else a.edit.expect)
        codes[group][a.verify.code] += 1
    t.add(SECTION, "'archive verify' right after the edit: exit codes",
          "; ".join(f"{g}: {_counts(c)}" for g, c in sorted(codes.items())))
    undetected = [a for a in attempts if a.verify.code == 0]
    t.zero(SECTION, "edits undetected by 'archive verify' (sign-in and check exit 0)", len(undetected))
    for a in undetected[:10]:
        print(f"    ! undetected: {a.edit.name}")
    named = [a for a in attempts if a.verify.code in (5, 6)]
    naming = [a for a in named if any(Path(rel).name in a.verify.stderr for rel in a.edit.writes)]
    t.add(SECTION, "refusals (exit 5, 6) whose message names an edited file", f"{len(naming)} / {len(named)}")
    for a in [a for a in named if a not in naming][:10]:
        print(f"    note: {a.edit.name}: {a.verify.stderr.strip().splitlines()[0][:200]}")
    work = defaultdict(Counter)
    for a in attempts:
        for name, r in a.work:
            work[name][r.code] += 1
    t.add(SECTION, "routine admin commands by exit code", "; ".join(f"{n}: {_counts(c)}" for n, c in work.items()))
    # Must be 0: every edit but a rollback or a no-op changes what an administrator signed. Apart:
    # 'policy sync' after a policy file edit (it is the review: it prints the diff and signs), and
    # the rollbacks and no-ops (an administrator in office signed those bytes, or their canonical
    # JSON; 'archive verify' reports them, checked by "edits no longer reported" below).
    tampered = [(a, name, r) for a in attempts if a.edit.expect == "refused" for name, r in a.work
                if r.code == 0 and not (a.edit.policy_edit and name == "policy sync")]
    t.zero(SECTION, "routine admin commands that succeeded on a tampered archive "
                    "(a policy file's 'policy sync' is the admin's review: apart)", len(tampered))
    for a, name, r in tampered[:10]:
        print(f"    ! {name} succeeded after: {a.edit.name}")
    expected_ok = [(a, name) for a in attempts if a.edit.expect in ("rollback", "no-op")
                   for name, r in a.work if r.code == 0]
    t.add(SECTION, "routine admin commands that succeeded after a rollback / a no-op edit (signatures valid)",
          f"{sum(a.edit.expect == 'rollback' for a, _ in expected_ok)} / "
          f"{sum(a.edit.expect == 'no-op' for a, _ in expected_ok)} "
          f"(of {5 * sum(a.edit.expect == 'rollback' for a in attempts)} / "
          f"{5 * sum(a.edit.expect == 'no-op' for a in attempts)})")
    reviewed = [a for a in attempts if a.sync_diff_named is not None]
    t.add(SECTION, "policy file edits: commands refused before 'policy sync' / syncs refused (invalid policy)",
          f"{sum(r.code != 0 for a in attempts if a.edit.policy_edit for n, r in a.work if n != 'policy sync')} of "
          f"{4 * sum(a.edit.policy_edit for a in attempts)} / "
          f"{sum(dict(a.work)['policy sync'].code != 0 for a in attempts if a.edit.policy_edit)}")
    t.all(SECTION, "'policy sync' of an edited policy file showed the edited file in its diff",
          sum(bool(a.sync_diff_named) for a in reviewed), len(reviewed))
    after = [a for a in attempts if a.verify_after is not None]
    missed = [a for a in after if a.verify_after.code == 0]
    t.zero(SECTION, f"edits no longer reported by 'archive verify' after admin work succeeded over them "
                    f"(of {len(after)})", len(missed))
    for a in missed[:10]:
        print(f"    ! verify passes after the work: {a.edit.name}")
    _zero_list(t, "keys sealed to unsigned principals (a name or key no administrator endorsed)", attempts, "unsigned")
    _zero_list(t, "key generations the attacker planted, in a key store the archive signed", attempts, "planted")
    _zero_list(t, "documents encrypted under unsigned keys (slot key files, directory: a planted key opens them)",
               attempts, "under_planted")
    _zero_list(t, "audit details sealed to a key the attacker planted", attempts, "details")
    outside = [a for a in attempts if a.edit.expect != "rollback"]
    _zero_list(t, "keys sealed to removed users (outside rollbacks)", outside, "removed")
    rolled = [a for a in attempts if a.edit.expect == "rollback"]
    back = [a for a in rolled if a.removed]
    readers = [(a, r) for a in rolled for r in a.probes if r.user in p.removed and r.code == 0]
    t.add(SECTION, "rollbacks: keys sealed to removed users by the admin work / removed users who listed "
                   "documents again (documented; verify reports them)",
          f"{len(back)} / {len(readers)} of {len(rolled)} rollbacks")
    for a in back[:4]:
        print(f"    note: after {a.edit.name}: sealed to removed users: {', '.join(a.removed[:4])}")
    for a, r in readers[:4]:
        print(f"    note: after {a.edit.name}: {r.user} (removed) ran 'archive ls' with exit 0")
    mine = [(a, r) for a in attempts for r in a.probes if r.user in a.edit.attacker.keyrings]
    probes = [(a, r) for a, r in mine if r.code == 0]
    t.add(SECTION, f"attacker-made keyrings that listed documents ('archive ls', of {len(mine)}; exit codes)",
          f"{len(probes)} ({_counts(Counter(r.code for _, r in mine))})", "= 0", not probes)
    for a, r in probes[:5]:
        print(f"    ! {r.user} (the attacker's keyring) listed documents after {a.edit.name}")
    runs = [(a, r) for a in attempts for r in a.runs()]
    crashed = [(a, r) for a, r in runs if "Traceback" in r.stderr]
    t.zero(SECTION, f"commands answered with a traceback (of {len(runs)})", len(crashed))
    for a, r in crashed[:5]:
        print(f"    ! traceback: archive {' '.join(r.args[:2])} after {a.edit.name}: {r.stderr.strip()[-300:]}")
    hung = [(a, r) for a, r in runs if r.code is None]
    t.zero(SECTION, f"commands that hung ({CLI_TIMEOUT} s)", len(hung))
    failed = [c for c in controls if c]
    t.zero(SECTION, f"untouched controls (verify, the routine work, the scans) that failed, of {len(controls)}",
           len(failed))
    for c in failed[:3]:
        print(f"    ! control: {c[0]}")
    secs = sorted(a.seconds for a in attempts)
    if secs:
        t.add(SECTION, "time per edit: median / max", f"{secs[len(secs) // 2]:.1f} / {secs[-1]:.1f} s")


def _zero_list(t, measure: str, attempts: list[Attempt], attr: str) -> None:
    hits = [(a, getattr(a, attr)) for a in attempts if getattr(a, attr)]
    t.zero(SECTION, measure, sum(len(h) for _, h in hits))
    for a, h in hits[:5]:
        print(f"    ! {a.edit.name}: {'; '.join(h[:3])}")
