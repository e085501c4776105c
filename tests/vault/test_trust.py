"""The trust anchor: the root in every keyring, the signed admin list, and
records that are used only when an administrator in office signed them."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from archive_manager import accounts, verify
from archive_manager.audit import Signer
from archive_manager.crypto import create_keyring
from archive_manager.crypto.kdf import PROFILES
from archive_manager.errors import IntegrityError, UpgradeNeeded
from archive_manager.vault.trust import Trust, TrustFile, TrustRoot
from archive_manager.cli.hints import cli_hint


def _vault(archive):
    return archive.root / "vault"


def _load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def _save(path, data):
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


# --- the root and the keyring ----------------------------------------------------------


def test_every_keyring_holds_the_root_fingerprint(archive):
    root = TrustFile.load(_vault(archive) / "trust.json").root.fingerprint
    for user in ("alice", "bob", "carol"):
        assert archive.login(user).keyring.root == root


def test_a_replaced_root_is_refused_at_sign_in(archive):
    """Whoever rewrites trust.json with a root of their own gets nothing: the
    keyring says which root it trusts."""
    path = _vault(archive) / "trust.json"
    data = _load(path)
    mallory = create_keyring("mallory", "pw", PROFILES["test"], os.urandom)[1]
    data["root"]["admins"] = {"mallory": __import__("base64").b64encode(mallory.identity.sign_public).decode()}
    data["admins"] = []
    _save(path, data)
    with pytest.raises(IntegrityError) as exc:
        archive.login("bob")
    assert exc.value.message.startswith("trust.json: the archive's root of trust is not the one your keyring knows")


def test_a_keyring_made_by_hand_with_the_right_root_still_gets_nothing(archive):
    """The fingerprint is no secret: an attacker can put it in a keyring of
    their own. Their record is still not signed by an administrator."""
    root = TrustFile.load(_vault(archive) / "trust.json").root.fingerprint
    record, _ = create_keyring("mallory", "pw", PROFILES["test"], os.urandom, root=root)
    path = _vault(archive) / "users.json"
    data = _load(path)
    data["users"]["mallory"] = {**data["users"]["bob"], "keyring": record}
    _save(path, data)
    with pytest.raises(IntegrityError) as exc:
        archive.login("mallory", "pw")
    # the endorsement copied from bob's record does not cover mallory's
    assert exc.value.message.startswith("users.json: the record of user 'mallory' is not validly signed")
    # the failed sign-in is on the record, signed by the name typed (it unlocked a keyring)
    last = archive.reporter.events[-1]
    assert (last.action, last.outcome, last.user, last.reason) == ("login", "error", "mallory",
                                                                     "integrity failure")


# --- the admin list ---------------------------------------------------------------------


def test_a_second_admin_is_endorsed_and_can_sign(archive):
    alice = archive.login("alice")
    accounts.add_user(alice, "dana", ["archive"], "dana-pw")
    trust = TrustFile.load(_vault(archive) / "trust.json")
    assert [r["by"] for r in trust.chain] == ["alice"]
    assert sorted(trust.chain[-1]["admins"]) == ["alice", "dana"]
    dana = archive.login("dana")
    accounts.add_user(dana, "erin", ["legal"], "erin-pw")
    assert _load(_vault(archive) / "users.json")["users"]["erin"]["endorsement"]["by"] == "dana"
    assert archive.login("erin").departments == ("legal",)


def test_removing_an_admin_moves_everything_they_signed_to_the_remover(archive, tmp_path):
    alice = archive.login("alice")
    accounts.add_user(alice, "dana", ["archive"], "dana-pw")
    dana = archive.login("dana")
    accounts.add_user(dana, "erin", ["legal"], "erin-pw")
    accounts.remove_user(archive.login("alice"), "dana")
    users = _load(_vault(archive) / "users.json")["users"]
    assert {u["endorsement"]["by"] for u in users.values()} == {"alice"}
    assert _load(_vault(archive) / "keys.json")["endorsement"]["by"] == "alice"
    trust = TrustFile.load(_vault(archive) / "trust.json")
    assert sorted(trust.chain[-1]["admins"]) == ["alice"]
    assert archive.login("erin").departments == ("legal",)
    assert verify.verify_vault(archive.login("alice")).ok


def test_a_removed_admin_who_kept_their_key_cannot_sign_any_more(archive):
    alice = archive.login("alice")
    accounts.add_user(alice, "dana", ["archive"], "dana-pw")
    dana = archive.login("dana")  # dana keeps her unlocked keys (a copy of her keyring and passphrase)
    accounts.remove_user(archive.login("alice"), "dana")
    path = _vault(archive) / "users.json"
    data = _load(path)
    trust = Trust(TrustFile.load(_vault(archive) / "trust.json"), dana.keyring.root)
    rec = archive.login("bob").record
    forged = dict(data["users"]["bob"])
    forged["departments"] = ["legal", "credit"]
    body = {**rec.body(), "departments": ["legal", "credit"]}
    trust.admins["dana"] = dana.keyring.identity.sign_public  # what dana's program would believe
    forged["endorsement"] = trust.endorse("user", body, Signer("dana", dana.keyring.sign))
    data["users"]["bob"] = forged
    _save(path, data)
    with pytest.raises(IntegrityError) as exc:
        archive.login("bob")
    assert "signed by 'dana', who is not an administrator" in exc.value.message


def test_an_admin_list_record_removed_from_the_chain_is_refused(archive):
    alice = archive.login("alice")
    accounts.add_user(alice, "dana", ["archive"], "dana-pw")
    accounts.add_user(alice, "erin", ["archive"], "erin-pw")
    path = _vault(archive) / "trust.json"
    data = _load(path)
    assert len(data["admins"]) == 2
    del data["admins"][0]
    _save(path, data)
    with pytest.raises(IntegrityError) as exc:
        archive.login("bob")
    assert "admin list record 1 does not follow the one before it" in exc.value.message


def test_the_admin_department_only_through_the_admin_list(archive):
    path = _vault(archive) / "users.json"
    data = _load(path)
    data["users"]["bob"]["departments"] = ["legal", "archive"]
    _save(path, data)
    with pytest.raises(IntegrityError):
        archive.login("bob")


# --- any change to a signed record is refused -------------------------------------------


SIGNED_FIELDS = [
    ("users.json", ("users", "bob", "departments")),
    ("users.json", ("users", "bob", "status")),
    ("users.json", ("users", "bob", "created")),
    ("users.json", ("users", "bob", "keyring", "kem_public")),
    ("keys.json", ("pending_rotation",)),
    ("keys.json", ("classes", "contract", "current")),
    ("keys.json", ("classes", "contract", "checks")),
    ("policy.json", ("files", "grants.toml")),
    ("policy.json", ("catalog",)),
    ("policy.json", ("seq",)),
]


def _mutated(value, seed: int):
    if isinstance(value, bool) or value is None:
        return [seed]
    if isinstance(value, int):
        return value + 1 + seed % 3
    if isinstance(value, str):
        return value + ("x" if seed % 2 else "\n# edit")
    if isinstance(value, list):
        return [*value, "archive" if seed % 2 else "contract"]
    if isinstance(value, dict):
        return {**value, "planted": "AAAA"}
    return seed


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=st.sampled_from(SIGNED_FIELDS), seed=st.integers(min_value=0, max_value=1000))
def test_any_edit_of_a_signed_field_is_refused(empty_archive, case, seed):
    archive = empty_archive
    accounts.add_user(archive.login("alice"), "bob", ["legal"], "bob-pw") \
        if "bob" not in _load(_vault(archive) / "users.json")["users"] else None
    file, keys = case
    path = _vault(archive) / file
    original = path.read_bytes()
    data = _load(path)
    node = data
    for k in keys[:-1]:
        node = node[k]
    node[keys[-1]] = _mutated(node.get(keys[-1]), seed)
    _save(path, data)
    try:
        with pytest.raises(IntegrityError):
            archive.login("alice")
    finally:
        path.write_bytes(original)


# --- keys ---------------------------------------------------------------------------------


def test_a_sealed_copy_of_another_key_is_refused_by_the_key_check(archive):
    """Even with a valid store signature, a copy that opens to a key the
    administrator did not create is not used (defence in depth)."""
    store = archive.login("alice").store(fresh=True)
    bob = archive.login("bob")
    with pytest.raises(IntegrityError) as exc:  # an admin's program with a bug cannot seal a wrong key
        store.seal_to("contract", store.current("contract"), os.urandom(32), bob.keyring.identity)
    assert "is not the one an administrator created" in exc.value.message


def _signed_extra_generations(archive, n: int, pending: bool) -> None:
    """``n`` more contract generations, written and signed by the admin (as a
    bug in an admin's program would), pending or not."""
    alice = archive.login("alice")
    with alice.recorded("rotate", access_class="contract"):
        with alice.transaction() as tx:
            store = alice.store(fresh=True)
            for _ in range(n):
                store.add_generation("contract", os.urandom(32), [alice.keyring.identity])
            if pending:
                store.mark_pending(["contract"])
            alice.write_store(tx, store)


def test_verify_names_generations_no_rotation_explains(archive):
    _signed_extra_generations(archive, 1, pending=False)
    report = verify.verify_vault(archive.login("alice"))
    assert not report.ok
    assert any(p.where == "vault/keys.json" and "'contract'" in p.problem for p in report.problems)


def test_rotation_adopts_no_generation_it_did_not_start(archive):
    _signed_extra_generations(archive, 2, pending=True)
    with pytest.raises(IntegrityError) as exc:
        accounts.finish_rotations(archive.login("alice"))
    assert "that no rotation in progress explains" in exc.value.message


# --- the policy in force --------------------------------------------------------------


def test_verify_compares_the_signed_policy_with_the_log(archive):
    alice = archive.login("alice", check_policy_files=False)
    grants = archive.root / "policies" / "grants.toml"
    old_policy = (_vault(archive) / "policy.json").read_bytes()
    grants.write_text(grants.read_text(encoding="utf-8").replace(
        '[credit]\nclasses = ["basic", "credit"]', '[credit]\nclasses = ["basic", "credit", "service"]'),
        encoding="utf-8")
    result = accounts.sync_policy(alice)
    assert result.policy_changed and result.sealed == ["service:carol"]
    assert verify.verify_vault(archive.login("alice")).ok
    # the older, validly signed policy put back (and the files with it)
    (_vault(archive) / "policy.json").write_bytes(old_policy)
    grants.write_text(grants.read_text(encoding="utf-8").replace(
        '["basic", "credit", "service"]', '["basic", "credit"]'), encoding="utf-8")
    report = verify.verify_vault(archive.login("alice"))
    problems = {p.where: p.problem for p in report.problems}
    assert "vault/policy.json" in problems
    assert "not the one the audit log recorded" in problems["vault/policy.json"] or \
        "older copy" in problems["vault/policy.json"]


def test_the_catalog_in_force_is_the_signed_one(archive, tmp_path):
    catalog = archive.root / "templates" / "catalog.toml"
    text = catalog.read_text(encoding="utf-8")
    catalog.write_text(text.replace('output_type = "contract-amendment"', 'output_type = "client-profile"'),
                       encoding="utf-8")
    with pytest.raises(Exception) as exc:
        archive.login("bob")
    assert exc.value.exit_code == 6
    session = archive.login("bob", check_policy_files=False)
    assert session.catalog()["contract-amendment"].output_type == "contract-amendment"


# --- the audit log ------------------------------------------------------------------------


def test_a_log_elsewhere_is_refused(archive, tmp_path):
    from archive_manager.home import ArchiveHome
    from archive_manager.settings import load_settings
    from tests.conftest import make_env

    (archive.root / "archive.toml").write_text(
        f'[paths]\naudit = "{tmp_path / "private-audit"}"\n', encoding="utf-8")
    home = ArchiveHome(load_settings(archive.root, make_env(archive.root)))
    with pytest.raises(IntegrityError) as exc:
        home.login("bob", "bob-pw")
    assert "is not this archive's log" in exc.value.message


def test_the_trail_withholds_details_when_the_audit_key_is_not_signed(archive):
    accounts.add_user(archive.login("alice"), "dave", ["audit"], "dave-pw")
    path = _vault(archive) / "keys.json"
    data = _load(path)
    gen = str(data["classes"]["_audit"]["current"])
    attacker = create_keyring("mallory", "pw", PROFILES["test"], os.urandom)[1]
    data["classes"]["_audit"]["public"][gen] = __import__("base64").b64encode(
        attacker.identity.kem_public).decode()
    _save(path, data)
    with pytest.raises(IntegrityError):  # the sign-in is refused ...
        archive.login("bob")
    event = json.loads((archive.root / "audit" / "events.log").read_bytes().splitlines()[-1])
    assert (event["action"], event["outcome"], event["user"]) == ("login", "error", "bob")
    # ... and its details were not sealed to the planted key
    assert event["sealed"] == {"withheld": "the audit key could not be read (keys.json damaged?)"}


def test_upgrade_needed_without_a_trust_anchor(archive):
    (_vault(archive) / "trust.json").unlink()
    with pytest.raises(UpgradeNeeded) as exc:
        archive.login("bob")
    assert "archive upgrade" in cli_hint(exc.value)


def test_the_root_outlives_its_admins(archive, tmp_path):
    """The first admin can leave: the root stays, the admin list goes on."""
    before = TrustFile.load(_vault(archive) / "trust.json").root
    accounts.add_user(archive.login("alice"), "dana", ["archive"], "dana-pw")
    accounts.remove_user(archive.login("dana"), "alice")
    after = TrustFile.load(_vault(archive) / "trust.json")
    assert after.root == before and isinstance(after.root, TrustRoot)
    assert sorted(after.chain[-1]["admins"]) == ["dana"]
    assert archive.login("bob").departments == ("legal",)
    assert verify.verify_vault(archive.login("dana")).ok


# --- rollbacks to validly signed copies -------------------------------------------------


def test_a_removed_users_old_record_spliced_back_gets_no_key(archive, tmp_path):
    """The old record is validly signed by an admin still in office, so the
    sign-in cannot tell; but no admin command hands out a key while a control
    file is not what the audit log last recorded (found by the stress suite's
    control section)."""
    path = _vault(archive) / "users.json"
    old = _load(path)["users"]["carol"]
    accounts.remove_user(archive.login("alice"), "carol")
    data = _load(path)
    data["users"]["carol"] = old
    _save(path, data)
    before = (_vault(archive) / "keys.json").read_bytes()
    for act in (lambda s: accounts.sync_policy(s),
                lambda s: accounts.add_user(s, "erin", ["legal"], "erin-pw")):
        with pytest.raises(IntegrityError) as exc:
            act(archive.login("alice"))
        # one record spliced in: a file no event wrote (a whole older file: "is an older copy")
        assert exc.value.message.startswith("vault/users.json was changed outside the archive")
        assert "nothing is sealed" in exc.value.message
    assert (_vault(archive) / "keys.json").read_bytes() == before
    assert "carol" not in json.dumps(_load(_vault(archive) / "keys.json")["classes"])


def test_a_whole_control_file_put_back_is_named_as_an_older_copy(archive):
    path = _vault(archive) / "users.json"
    old = path.read_bytes()
    accounts.remove_user(archive.login("alice"), "carol")
    path.write_bytes(old)
    with pytest.raises(IntegrityError) as exc:
        accounts.sync_policy(archive.login("alice"))
    assert exc.value.message.startswith("vault/users.json is an older copy (event ")
