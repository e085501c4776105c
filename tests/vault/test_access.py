"""Access is keys: policy checks on top, and without the key nothing opens, even when the
policy check is bypassed. Removing a user rotates keys so later filings stay closed to them."""

from __future__ import annotations

import io
import itertools
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archive_manager import accounts, clients, filing, reading
from archive_manager.crypto.sealed import decrypt_stream
from archive_manager.crypto.primitives import unwrap_key
from archive_manager.crypto.encoding import b64d
from archive_manager.errors import AccessDenied, ArchiveError, AuthenticationError, IntegrityError, NotFound, PolicyError
from archive_manager.policy import Policy
from archive_manager.session import Session
from archive_manager.vault.classkeys import DIRECTORY, ClassKeyStore
from archive_manager.vault.directory import Directory
from archive_manager.verify import verify_vault

CONTRACT_TEXT = "广告发布合同：甲方北京星辰传媒有限公司".encode()


def file_doc(session, tmp_path: Path, name: str, data: bytes, doc_type: str, client: str = "C001", **kw) -> str:
    src = tmp_path / name
    src.write_bytes(data)
    filed = filing.file_document(session, src, client, doc_type, **kw)
    assert not filed.duplicate
    return filed.doc_id


def read(session, doc_id: str) -> bytes:
    sink = io.BytesIO()
    reading.read_document(session, doc_id, sink)
    return sink.getvalue()


def assert_cannot_read(session, doc_id: str, tmp_path: Path, exc=(AccessDenied, NotFound)) -> None:
    sink = io.BytesIO()
    with pytest.raises(exc):
        reading.read_document(session, doc_id, sink)
    assert sink.getvalue() == b""
    out = tmp_path / "denied-out.bin"
    with pytest.raises(exc):
        reading.export_to_path(session, doc_id, out)
    assert not out.exists()


@pytest.fixture
def docs(archive, tmp_path):
    alice, bob, carol = (archive.login(u) for u in ("alice", "bob", "carol"))
    ids = {
        "contract": file_doc(bob, tmp_path, "合同.txt", CONTRACT_TEXT, "contract", title="广告发布合同"),
        "credit-report": file_doc(carol, tmp_path, "信用.txt", "信用报告 A级".encode(), "credit-report"),
        "client-profile": file_doc(alice, tmp_path, "profile.txt", "客户基本情况".encode(), "client-profile"),
        "complaint": file_doc(bob, tmp_path, "投诉.txt", "投诉记录".encode(), "complaint"),
        "minutes": file_doc(alice, tmp_path, "纪要.txt", "会议纪要".encode(), "minutes"),
    }
    return archive, ids


# --- departments read their share -------------------------------------------------------


def test_credit_user_cannot_list_contracts(docs):
    archive, ids = docs
    carol = archive.login("carol")
    with pytest.raises(AccessDenied) as exc:
        reading.list_documents(carol, doc_type="contract")
    assert exc.value.message == "user 'carol' (credit) may not read documents of class 'contract'"
    rows = reading.list_documents(carol)
    assert {r.access_class for r in rows} == {"basic", "credit"}
    assert {r.doc_id for r in rows} == {ids["credit-report"], ids["client-profile"]}
    assert all("合同" not in r.title for r in rows)


def test_credit_user_cannot_read_contracts(docs, tmp_path):
    archive, ids = docs
    carol = archive.login("carol")
    assert_cannot_read(carol, ids["contract"], tmp_path)
    assert read(carol, ids["credit-report"]) == "信用报告 A级".encode()
    denied = [e for e in archive.reporter.events
              if e.user == "carol" and e.action in ("get", "export") and e.objects.get("doc_id") == ids["contract"]]
    assert len(denied) == 2 and all(e.outcome != "ok" for e in denied)


def test_credit_user_cannot_verify_contracts(docs):
    archive, ids = docs
    report = verify_vault(archive.login("carol"))
    assert report.ok
    assert report.classes == ["basic", "credit"]
    assert "contract" in report.not_checked
    assert report.checked.documents == 2


def test_legal_user_can(docs, tmp_path):
    archive, ids = docs
    bob = archive.login("bob")
    [row] = reading.list_documents(bob, doc_type="contract")
    assert row.doc_id == ids["contract"] and row.title == "广告发布合同"
    assert read(bob, ids["contract"]) == CONTRACT_TEXT
    report = verify_vault(bob)
    assert report.ok
    assert report.classes == ["basic", "contract", "service"]
    assert "credit" in report.not_checked
    assert_cannot_read(bob, ids["credit-report"], tmp_path)
    assert_cannot_read(bob, ids["minutes"], tmp_path)


def test_admin_reads_every_class(docs):
    archive, ids = docs
    alice = archive.login("alice")
    assert {r.doc_id for r in reading.list_documents(alice)} == set(ids.values())
    assert read(alice, ids["contract"]) == CONTRACT_TEXT


# --- identity ------------------------------------------------------------------------------------


@pytest.mark.parametrize("user,passphrase,message", [
    ("bob", "wrong", "wrong passphrase for user 'bob'"),
    ("bob", "carol-pw", "wrong passphrase for user 'bob'"),
    ("bob", "", "wrong passphrase for user 'bob'"),
    ("mallory", "mallory-pw", "unknown user 'mallory'"),
    ("Bob", "bob-pw", "unknown user 'Bob'"),
])
def test_login_denied(archive, user, passphrase, message):
    with pytest.raises(AuthenticationError) as exc:
        archive.home.login(user, passphrase)
    assert exc.value.message == message
    event = archive.reporter.events[-1]
    assert (event.action, event.user, event.outcome) == ("login", user, "denied")


# --- keys, not policy checks ---------------------------------------------------------------------


def test_session_without_class_key(docs):
    archive, ids = docs
    carol = archive.login("carol")
    with pytest.raises(AccessDenied):
        carol.class_key("contract")
    store = carol.store(fresh=True)
    with pytest.raises(AccessDenied):
        store.unseal("contract", store.current("contract"), carol.keyring)
    assert "carol" not in store.holders("contract")
    assert carol.classes_for("read") == ["basic", "credit"]


def test_bypassing_policy_does_not_open_other_classes(docs, tmp_path, monkeypatch):
    archive, ids = docs
    carol = archive.login("carol")
    everything = frozenset(carol.policy.classes)
    monkeypatch.setattr(Policy, "allows", lambda self, *a, **k: True)
    monkeypatch.setattr(Policy, "classes_for", lambda self, *a, **k: everything)
    assert carol.policy.allows(["credit"], "read", "contract")  # the check is really bypassed
    assert_cannot_read(carol, ids["contract"], tmp_path)
    with pytest.raises(AccessDenied):
        reading.list_documents(carol, doc_type="contract")
    # even forcing the session to try every class, the key is missing
    monkeypatch.setattr(Session, "classes_for", lambda self, action: sorted(everything))
    assert_cannot_read(carol, ids["contract"], tmp_path, AccessDenied)
    with pytest.raises(AccessDenied):
        reading.list_documents(carol)


def test_another_users_sealed_key_does_not_open(docs):
    archive, ids = docs
    carol = archive.login("carol")
    store = carol.store(fresh=True)
    gen = store.current("contract")
    data = json.loads((archive.root / "vault" / "keys.json").read_text())
    bobs = b64d(data["classes"]["contract"]["gens"][str(gen)]["bob"])
    for info_user in ("bob", "carol"):
        with pytest.raises(IntegrityError):
            carol.keyring.open_sealed(bobs, f'["am",1,"class-key","{carol.vault.vault_id}","contract",{gen},"{info_user}"]')


def test_policy_grant_edited_but_not_signed(docs, tmp_path):
    """The policy file is edited to give credit the contracts, but no admin signed it
    (no sync): nobody can act on either version until it is signed or undone."""
    archive, ids = docs
    grants = archive.root / "policies" / "grants.toml"
    text = grants.read_text(encoding="utf-8")
    grants.write_text(text.replace('[credit]\nclasses = ["basic", "credit"]',
                                   '[credit]\nclasses = ["basic", "credit", "contract"]'), encoding="utf-8")
    with pytest.raises(PolicyError) as exc:
        archive.login("carol")
    assert "policies/grants.toml changed since an admin last signed the policy" in exc.value.message
    # once an admin syncs, the policy is signed, the key is sealed to carol and she can read
    accounts.sync_policy(archive.login("alice", check_policy_files=False))
    assert read(archive.login("carol"), ids["contract"]) == CONTRACT_TEXT


# --- removed users -------------------------------------------------------------------------------


def test_removed_user_cannot_log_in(archive):
    alice = archive.login("alice")
    result = accounts.remove_user(alice, "bob")
    assert result.removed is True
    assert "contract" in result.rotated
    with pytest.raises(AuthenticationError) as exc:
        archive.login("bob")
    assert exc.value.message == "user 'bob' was removed and can no longer sign in"
    data = json.loads((archive.root / "vault" / "users.json").read_text())
    assert "sealed_private" not in data["users"]["bob"]["keyring"]
    keys = json.loads((archive.root / "vault" / "keys.json").read_text())
    for cls, entry in keys["classes"].items():
        for gen, sealed in entry["gens"].items():
            assert "bob" not in sealed, (cls, gen)


def test_removal_keeps_other_users_access(docs, tmp_path):
    archive, ids = docs
    accounts.remove_user(archive.login("alice"), "bob")
    carol = archive.login("carol")
    assert read(carol, ids["client-profile"]) == "客户基本情况".encode()  # basic was rotated
    assert read(carol, ids["credit-report"]) == "信用报告 A级".encode()
    alice = archive.login("alice")
    assert read(alice, ids["contract"]) == CONTRACT_TEXT
    new = file_doc(alice, tmp_path, "new-basic.txt", b"after removal", "business-license")
    assert read(archive.login("carol"), new) == b"after removal"
    assert verify_vault(alice).ok


def test_old_session_of_removed_user_cannot_read_later_filings(docs, tmp_path):
    archive, ids = docs
    bob_old = archive.login("bob")
    assert read(bob_old, ids["contract"]) == CONTRACT_TEXT  # keys now cached in the session
    alice = archive.login("alice")
    accounts.remove_user(alice, "bob")
    new_id = file_doc(alice, tmp_path, "after.txt", "撤销后的新合同".encode(), "contract")
    assert read(alice, new_id) == "撤销后的新合同".encode()
    # the session object unlocked before the removal
    assert_cannot_read(bob_old, new_id, tmp_path, ArchiveError)
    # a fresh session built from the same unlocked keyring
    home = archive.reopen()
    fresh = Session(home, home.vault(), bob_old.trust, bob_old.signed_policy, bob_old.record, bob_old.keyring)
    assert_cannot_read(fresh, new_id, tmp_path, ArchiveError)
    with pytest.raises(AccessDenied):
        fresh.class_key("contract")
    with pytest.raises(AccessDenied):
        fresh.class_key(DIRECTORY)


def test_kept_keyring_and_key_files_cannot_decrypt_later_filings(docs, tmp_path):
    """The real property: bob keeps his unlocked keyring and copies of vault/keys.json, the
    directory and the slot's key file from before his removal. Documents filed afterwards stay
    closed to him, whatever combination of old and current files he uses."""
    archive, ids = docs
    vault = archive.root / "vault"
    bob = archive.login("bob")
    keyring = bob.keyring
    vault_id = bob.vault.vault_id
    found_old = reading.locate(bob, ids["contract"])
    slot_keys = vault / "dossiers" / found_old.slot.dossier / found_old.slot.slot_id / "keys.json"
    old_store_json = json.loads((vault / "keys.json").read_text())
    old_slot_keys = json.loads(slot_keys.read_text())
    old_directory = (vault / "directory.bin").read_bytes()

    alice = archive.login("alice")
    accounts.remove_user(alice, "bob")
    new_id = file_doc(alice, tmp_path, "after.txt", "撤销后的新合同".encode(), "contract")
    clients.add_client(alice, "C002", "撤销后新增客户")
    new_c2 = file_doc(alice, tmp_path, "c2.txt", b"contract of a client admitted later", "contract", client="C002")

    # what bob can derive from his old copies
    old_store = ClassKeyStore(vault_id, old_store_json)
    old_gen = old_store.current("contract")
    old_class_key = old_store.unseal("contract", old_gen, keyring)
    old_dir_key = old_store.unseal(DIRECTORY, old_store.current(DIRECTORY), keyring)
    found_new = reading.locate(alice, new_id)
    slot = found_new.slot
    assert (slot.dossier, slot.slot_id) == (found_old.slot.dossier, found_old.slot.slot_id)

    def aad(epoch, gen):
        return f'["am",1,"content-key","{vault_id}","{slot.dossier}","contract",{epoch},{gen}]'

    old_content_keys = {int(e): unwrap_key(old_class_key, b64d(w), aad(int(e), old_slot_keys["gen"]))
                        for e, w in old_slot_keys["epochs"].items()}

    def try_decrypt(doc_id, found, key) -> bytes:
        v = found.doc["versions"][-1]
        path = vault / "dossiers" / found.slot.dossier / found.slot.slot_id / "objects" / f"{v['blob']}.bin"
        out = io.BytesIO()
        with open(path, "rb") as src:
            decrypt_stream(src, out, lambda h: key, found.slot.doc_binding(doc_id, v["version"]), "doc")
        return out.getvalue()

    # control: the kept keys do open what was filed before the removal (no re-encryption by design)
    assert try_decrypt(ids["contract"], found_old, old_content_keys[1]) == CONTRACT_TEXT

    # the new document uses a content key bob never had
    assert found_new.doc["versions"][-1]["epoch"] not in old_content_keys
    for key in old_content_keys.values():
        with pytest.raises(IntegrityError):
            try_decrypt(new_id, found_new, key)

    # the current slot key file is wrapped under a class key generation bob was never given
    current = json.loads(slot_keys.read_text())
    assert current["gen"] != old_gen
    for e, w in current["epochs"].items():
        with pytest.raises(IntegrityError):
            unwrap_key(old_class_key, b64d(w), aad(int(e), current["gen"]))
        with pytest.raises(IntegrityError):
            unwrap_key(old_class_key, b64d(w), aad(int(e), old_gen))
    new_store = ClassKeyStore(vault_id, json.loads((vault / "keys.json").read_text()))
    with pytest.raises(AccessDenied):
        new_store.unseal("contract", new_store.current("contract"), keyring)

    # the directory (client names, the later client) is sealed under a new directory key
    assert Directory.open(old_directory, vault_id, lambda g: old_dir_key).clients.keys() == {"C001"}
    with pytest.raises(IntegrityError):
        Directory.open((vault / "directory.bin").read_bytes(), vault_id, lambda g: old_dir_key)

    # the later client's contract slot does not open with the old class key either
    found_c2 = reading.locate(alice, new_c2)
    c2_keys = json.loads((vault / "dossiers" / found_c2.slot.dossier / found_c2.slot.slot_id / "keys.json").read_text())
    for e, w in c2_keys["epochs"].items():
        with pytest.raises(IntegrityError):
            unwrap_key(old_class_key, b64d(w),
                       f'["am",1,"content-key","{vault_id}","{found_c2.slot.dossier}","contract",{e},{c2_keys["gen"]}]')


# --- property: nobody sees outside their classes ---------------------------------------------------


def test_no_user_lists_or_reads_outside_their_classes(archive, tmp_path):
    alice = archive.login("alice")
    policy = alice.policy
    departments = sorted(policy.departments)
    chain = policy.admission  # the admission review files these itself; filing refuses them
    types = sorted(set(policy.types) - {chain.application_type, *(s.opinion_type for s in chain.steps)})
    filed: dict[str, str] = {}  # doc_id -> type, across examples (one archive)
    counter = itertools.count()
    srcdir = tmp_path / "src"
    srcdir.mkdir()

    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        users=st.lists(st.lists(st.sampled_from(departments), min_size=1, max_size=3, unique=True),
                       min_size=1, max_size=2),
        filings=st.lists(st.sampled_from(types), max_size=4),
        type_filter=st.sampled_from(types),
    )
    def check(users, filings, type_filter):
        for t in filings:
            n = next(counter)
            src = srcdir / f"f{n}.txt"
            src.write_bytes(f"document {n} of type {t}".encode())
            filed[filing.file_document(alice, src, "C001", t).doc_id] = t
        for depts in users:
            name = f"u{next(counter)}"
            accounts.add_user(alice, name, depts, "pw")
            session = archive.login(name, "pw")
            readable = policy.classes_for(depts, "read")
            cls_of = {d: policy.types[t].access_class for d, t in filed.items()}
            expected = {d for d, c in cls_of.items() if c in readable}
            if not readable:
                with pytest.raises(AccessDenied):
                    reading.list_documents(session)
            else:
                rows = reading.list_documents(session)
                assert {r.access_class for r in rows} <= readable
                assert {r.doc_id for r in rows} == expected
            filter_cls = policy.types[type_filter].access_class
            if filter_cls in readable:
                rows = reading.list_documents(session, doc_type=type_filter)
                assert {r.doc_id for r in rows} == {d for d, t in filed.items() if t == type_filter}
            else:
                with pytest.raises(AccessDenied):
                    reading.list_documents(session, doc_type=type_filter)
            forbidden = sorted(d for d, c in cls_of.items() if c not in readable)[:4]
            for doc_id in forbidden:
                sink = io.BytesIO()
                with pytest.raises((AccessDenied, NotFound)):
                    reading.read_document(session, doc_id, sink)
                assert sink.getvalue() == b""
            for doc_id in sorted(expected)[:2]:
                assert read(session, doc_id).startswith(b"document ")

    check()
