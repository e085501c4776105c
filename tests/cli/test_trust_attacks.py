"""Attacks on the plaintext files the archive trusts (issue 13).

The attacker can write every file of the home (``vault/users.json``,
``vault/keys.json``, ``policies/*.toml``, ``templates/catalog.toml``,
``archive.toml``) but knows no passphrase. Each test plants one edit and then
lets the archive's legitimate users go about their work through the CLI: the
archive must refuse to act on what nobody signed (exit 5 for the vault's
records, exit 6 for a policy or catalog edit not yet applied with
``archive policy sync``), and the attacker must gain nothing by it.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from archive_manager.audit.details import open_details
from archive_manager.crypto import create_keyring, hpke_seal, kem_generate, kem_public_bytes, unwrap_key
from archive_manager.crypto.encoding import b64d, b64e
from archive_manager.crypto.kdf import PROFILES
from archive_manager.errors import ArchiveError
from archive_manager.vault.classkeys import ClassKeyStore
from archive_manager.vault.layout import binding
from archive_manager.vault.slot import Slot
from tests.cli.conftest import check_clean

SECRET = "广告发布合同 HT-2026-777 机密条款 secret-clause-4711"
SECRET_TITLE = "星辰机密合同"
READS = {"get", "export", "search"}


# --- helpers ---------------------------------------------------------------------------


def run(cli, *args, **kw):
    """``cli.run`` (which already checks) and ``check_clean`` once more, explicitly."""
    return check_clean(cli.run(*args, **kw))


def read_json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, sort_keys=True, indent=1), encoding="utf-8")


def vault_dir(cli) -> Path:
    return cli.home / "vault"


def vault_id(cli) -> str:
    return read_json(vault_dir(cli) / "vault.json")["vault_id"]


def hint_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("archive: hint:")]


def class_key_info(vid: str, cls: str, gen: int, user: str) -> str:
    """The binding a sealed class key carries (the archive's own ``_info``)."""
    try:
        return ClassKeyStore(vid, {"classes": {}})._info(cls, gen, user)
    except (AttributeError, TypeError):  # the store changed shape: the format v1 binding
        return binding("class-key", vid, cls, gen, user)


def kem_public_of(cli, user: str) -> bytes:
    users = read_json(vault_dir(cli) / "users.json")["users"]
    return b64d(users[user]["keyring"]["kem_public"])


def plant_generation(cli, cls: str, key: bytes, pending: bool = True) -> tuple[int, dict]:
    """Add a generation of ``cls`` whose key (known to the attacker) is sealed to
    the current holders, make it current and (optionally) ask for a rotation of
    ``cls``. Returns the generation and its sealed entries."""
    path = vault_dir(cli) / "keys.json"
    data = read_json(path)
    entry = data["classes"][cls]
    gen = max(int(g) for g in entry["gens"]) + 1
    holders = sorted(entry["gens"][str(entry["current"])])
    assert holders, f"class {cls} has no holder to seal the planted key to"
    vid = vault_id(cli)
    sealed = {u: b64e(hpke_seal(kem_public_of(cli, u), key, class_key_info(vid, cls, gen, u))) for u in holders}
    entry["gens"][str(gen)] = sealed
    entry["current"] = gen
    if pending:
        data["pending_rotation"] = sorted(set(data.get("pending_rotation", [])) | {cls})
    write_json(path, data)
    return gen, sealed


def slot_key_files(cli) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted((vault_dir(cli) / "dossiers").glob("*/*/keys.json"))}


def attacker_opens_a_slot(cli, key: bytes, cls: str = "contract") -> bool:
    """Whether ``key`` unwraps any content key of any dossier slot, as a slot of
    class ``cls`` (the archive's own binding and unwrap)."""
    vid = vault_id(cli)
    for path in slot_key_files(cli):
        slot_id, dossier = path.parent.name, path.parent.parent.name
        try:
            data = read_json(path)
            gen = int(data["gen"])
            wrapped = {int(e): b64d(w) for e, w in data["epochs"].items()}
        except (KeyError, TypeError, ValueError, AttributeError, ArchiveError):
            continue
        slot = Slot(vid, dossier, cls, slot_id, gen, {})
        for epoch, blob in wrapped.items():
            try:
                unwrap_key(key, blob, slot._key_aad(epoch, gen))
                return True
            except ArchiveError:
                continue
    return False


def plant_user(cli, name: str = "mallory", departments=("legal", "credit")) -> None:
    """A user record written by hand: a copy of carol's with the attacker's own keyring."""
    path = vault_dir(cli) / "users.json"
    data = read_json(path)
    entry = json.loads(json.dumps(data["users"]["carol"]))
    record, _ = create_keyring(name, f"{name}-pw", PROFILES["test"], os.urandom)
    entry["keyring"] = record
    entry["departments"] = list(departments)
    data["users"][name] = entry
    write_json(path, data)


def sealed_to(cli, user: str) -> list[str]:
    """Every ``class:gen`` of keys.json that holds a sealed key for ``user``."""
    data = read_json(vault_dir(cli) / "keys.json")
    return [f"{cls}:{g}" for cls, entry in data["classes"].items()
            for g, sealed in entry["gens"].items() if user in sealed]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, (path, old)
    path.write_text(text.replace(old, new), encoding="utf-8")


def log_events_after(path: Path, offset: int) -> list[dict]:
    return [json.loads(line) for line in path.read_bytes()[offset:].splitlines() if line.strip()]


def file_contract(cli, user="bob", client="C001", name="合同.txt", text=SECRET):
    return cli.file(cli.write(name, text), client=client, doc_type="contract", user=user,
                    extra=("--title", SECRET_TITLE))[0]["doc_id"]


LETTERHEAD = 'name = "北京示例广告有限公司"\naddress = "北京"\nphone = "010"\nbank = "工行"\naccount = "0200"\n'


def add_letterhead(cli) -> None:
    (cli.home / "policies" / "company.toml").write_text(LETTERHEAD, encoding="utf-8")  # signed with the policy
    assert run(cli, "policy", "sync", user="alice").exit_code == 0


# --- 1. a planted key generation ---------------------------------------------------------


@pytest.mark.parametrize("command", [("user", "remove", "carol"), ("policy", "sync")],
                         ids=["user-remove", "policy-sync"])
def test_attack_1_planted_key_generation_is_not_adopted(cli, command):
    file_contract(cli)  # a contract slot exists
    slots_before = slot_key_files(cli)
    assert slots_before
    key = os.urandom(32)
    gen, planted = plant_generation(cli, "contract", key)

    r = run(cli, *command, user="alice")
    assert r.exit_code == 5, r.output
    assert "keys.json" in r.stderr, r.stderr

    entry = read_json(vault_dir(cli) / "keys.json")["classes"]["contract"]
    assert entry["current"] == gen and entry["gens"][str(gen)] == planted  # left as it was found
    assert slot_key_files(cli) == slots_before  # nothing re-wrapped
    assert not attacker_opens_a_slot(cli, key)


def test_attack_1_planted_key_generation_is_not_used_for_filing(cli):
    r = run(cli, "client", "add", "C002", "--name", "上海某某传媒有限公司", user="alice")
    assert r.exit_code == 0, r.output
    file_contract(cli, name="first.txt", text="广告发布合同 HT-2026-001")
    slots_before = slot_key_files(cli)
    key = os.urandom(32)
    plant_generation(cli, "contract", key, pending=False)

    for client in ("C001", "C002"):  # an existing contract slot, and a new one
        src = cli.write(f"new-{client}.txt", f"广告发布合同 {client} HT-2026-002")
        r = run(cli, "file", src, "--client", client, "--type", "contract", user="bob")
        assert r.exit_code == 5, (client, r.output)
    assert slot_key_files(cli) == slots_before
    assert not attacker_opens_a_slot(cli, key)


# --- 2. a user added by hand ---------------------------------------------------------------


@pytest.mark.parametrize("command", [("user", "remove", "carol"), ("policy", "sync")],
                         ids=["user-remove", "policy-sync"])
def test_attack_2_user_added_by_hand_gets_no_key(cli, command):
    plant_user(cli, "mallory")
    r = run(cli, *command, user="alice")
    assert r.exit_code == 5, r.output
    assert "users.json" in r.stderr and "mallory" in r.stderr, r.stderr
    assert sealed_to(cli, "mallory") == []


def test_attack_2_user_added_by_hand_cannot_sign_in(cli):
    plant_user(cli, "mallory")
    for command in (["whoami"], ["ls"]):
        r = run(cli, *command, user="mallory")
        assert r.exit_code in (3, 5), (command, r.output)
        assert r.stdout == "", r.stdout


# --- 3. a type moved to another class, a template's output type changed ------------------


def test_attack_3_type_moved_to_another_class_waits_for_policy_sync(cli):
    classes = cli.home / "policies" / "classes.toml"
    edit(classes, 'types = ["contract", "contract-amendment", "legal-review"]', 'types = ["contract-amendment", "legal-review"]')
    edit(classes, 'types = ["business-license", ', 'types = ["contract", "business-license", ')
    src = cli.write("合同.txt", SECRET)

    r = run(cli, "file", src, "--client", "C001", "--type", "contract", user="bob")
    assert r.exit_code == 6, r.output
    assert any("policy sync" in line for line in hint_lines(r)), r.stderr
    for user in ("alice", "bob", "carol"):
        r = run(cli, "ls", user=user)
        assert r.exit_code == 6, (user, r.output)
        assert r.stdout == ""

    r = run(cli, "policy", "sync", user="alice")
    assert r.exit_code == 0, r.output
    assert "contract" in r.output or "classes.toml" in r.output, r.output

    r = run(cli, "file", src, "--client", "C001", "--type", "contract", user="bob")
    assert r.exit_code == 0, r.output
    rows = json.loads(run(cli, "ls", "--json", user="carol").stdout)  # carol holds basic, not contract
    assert [(row["type"], row["class"]) for row in rows] == [("contract", "basic")]


def test_attack_3_template_output_type_changed_waits_for_policy_sync(cli):
    add_letterhead(cli)
    contract = file_contract(cli)
    edit(cli.home / "templates" / "catalog.toml",
         'output_type = "contract-amendment"', 'output_type = "client-profile"')
    changes = cli.write("changes.json", json.dumps(
        {"changes": [{"clause": "第三条", "original": "480,000 元", "new": "520,000 元"}],
         "effective": "2026-12-01"}, ensure_ascii=False))
    out = cli.workdir / "amendment.docx"
    args = ("generate", "contract-amendment", "--client", "C001", "--contract", contract,
            "--data", changes, "-o", out)

    r = run(cli, *args, user="bob")
    assert r.exit_code == 6, r.output
    assert any("policy sync" in line for line in hint_lines(r)), r.stderr
    assert not out.exists()

    r = run(cli, "policy", "sync", user="alice")
    assert r.exit_code == 0, r.output
    r = run(cli, *args, user="bob")
    assert r.exit_code == 0, r.output
    assert out.exists()


# --- 4. admin granted by hand ----------------------------------------------------------------


def test_attack_4_admin_granted_to_marketing_by_hand(cli):
    pw = cli.passfile("mona", "mona-pw")
    r = run(cli, "user", "add", "mona", "--dept", "marketing", "--new-passphrase-file", pw, user="alice")
    assert r.exit_code == 0, r.output
    edit(cli.home / "policies" / "grants.toml",
         '[marketing]\nclasses = ["basic", "business"]\nactions = ["read", "search"]',
         '[marketing]\nclasses = ["basic", "business"]\nactions = ["read", "search", "admin"]')

    for user, command in (("bob", ["whoami"]), ("alice", ["ls"]), ("mona", ["whoami"])):
        r = run(cli, *command, user=user)
        assert r.exit_code == 6, (user, command, r.output)
    eve = cli.passfile("eve", "eve-pw")
    r = run(cli, "user", "add", "eve", "--dept", "marketing", "--new-passphrase-file", eve, user="mona")
    assert r.exit_code == 6, r.output
    assert "eve" not in read_json(vault_dir(cli) / "users.json")["users"]

    r = run(cli, "policy", "sync", user="alice")  # admin for a department other than archive: refused
    assert r.exit_code == 6, r.output
    r = run(cli, "whoami", user="bob")  # still not in force
    assert r.exit_code == 6, r.output


def test_attack_4_archive_department_added_to_user_record_by_hand(cli):
    path = vault_dir(cli) / "users.json"
    data = read_json(path)
    data["users"]["bob"]["departments"].append("archive")
    write_json(path, data)
    for command in (["whoami"], ["ls"]):
        r = run(cli, *command, user="bob")
        assert r.exit_code == 5, (command, r.output)
        assert "users.json" in r.stderr, r.stderr
        assert r.stdout == ""


# --- 5. the audit public key replaced ----------------------------------------------------------


def test_attack_5_audit_public_key_replaced(cli):
    file_contract(cli)
    pw = cli.passfile("dave", "dave-pw")
    r = run(cli, "user", "add", "dave", "--dept", "audit", "--new-passphrase-file", pw, user="alice")
    assert r.exit_code == 0, r.output
    secret = kem_generate(os.urandom)
    path = vault_dir(cli) / "keys.json"
    data = read_json(path)
    entry = data["classes"]["_audit"]
    assert str(entry["current"]) in entry["public"]
    entry["public"][str(entry["current"])] = b64e(kem_public_bytes(secret))
    write_json(path, data)
    log = cli.home / "audit" / "events.log"
    offset = log.stat().st_size

    r = run(cli, "search", "合同", user="bob")
    vid = vault_id(cli)
    opened = [e for e in log_events_after(log, offset)
              if isinstance(open_details(e.get("sealed"), vid, lambda gen: secret), dict)]
    assert opened == [], "details sealed to the attacker's key"
    assert r.exit_code == 5, r.output
    assert "keys.json" in r.stderr, r.stderr


# --- 6. reads recorded in a log of one's own -------------------------------------------------------


def shadow_home(cli, name: str, copy_log: bool) -> Path:
    """An archive.toml naming the real vault, index, policies and templates, and
    a private audit directory (empty, or a byte-for-byte copy of the real log)."""
    home = cli.workdir / name
    audit = home / "private-audit"
    audit.mkdir(parents=True)
    if copy_log:
        shutil.copy2(cli.home / "audit" / "events.log", audit / "events.log")
    paths = {"vault": cli.home / "vault", "index": cli.home / "index", "policies": cli.home / "policies",
             "templates": cli.home / "templates", "audit": audit}
    (home / "archive.toml").write_text(
        "[paths]\n" + "".join(f"{k} = {json.dumps(str(v.resolve()))}\n" for k, v in paths.items()),
        encoding="utf-8")
    return home


@pytest.mark.parametrize("copy_log", [False, True], ids=["empty-log", "copied-log"])
def test_attack_6_reads_with_a_private_audit_log(cli, copy_log):
    doc = file_contract(cli)
    real_log = cli.home / "audit" / "events.log"
    offset = real_log.stat().st_size
    other = shadow_home(cli, "elsewhere", copy_log)
    out = cli.workdir / "exported.txt"

    for args in (("get", doc), ("search", "合同"), ("get", doc, "-o", out)):
        r = run(cli, *args, user="bob", ARCHIVE_HOME=str(other))
        assert r.exit_code == 5, (args, r.output)
        assert r.stdout == "", (args, r.stdout)
        for secret in ("secret-clause-4711", "机密条款", SECRET_TITLE):
            assert secret not in r.output, (args, r.output)
    assert not out.exists()
    reads = [e for e in log_events_after(real_log, offset) if e["action"] in READS and e["outcome"] == "ok"]
    assert reads == []
