"""User keyrings: create/unlock, wrong passphrase, stored KDF parameters, rekey, HPKE."""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import os

import pytest

from archive_manager import accounts, filing, reading
from archive_manager.crypto import KdfParams, create_keyring, hpke_open, hpke_seal
from archive_manager.crypto.encoding import b64e
from archive_manager.crypto.kdf import PROFILES
from archive_manager.crypto.keyring import rekey_keyring, unlock_keyring
from archive_manager.crypto.primitives import verify_signature
from archive_manager.errors import ArchiveError, AuthenticationError, IntegrityError
from archive_manager.home import ArchiveHome
from archive_manager.reporting import MemoryReporter
from archive_manager.settings import load_settings

CHEAP = PROFILES["test"]


@pytest.fixture(scope="module")
def alice_ring():
    return create_keyring("alice", "alice-pw", CHEAP, os.urandom)


def test_create_unlock_round_trip(alice_ring):
    record, keys = alice_ring
    unlocked = unlock_keyring("alice", record, "alice-pw")
    assert unlocked == keys
    assert unlocked.user == "alice"
    assert unlocked.identity.fingerprint == keys.identity.fingerprint
    assert len(unlocked.identity.fingerprint) == 16


def test_record_is_json_and_holds_no_secret(alice_ring):
    record, keys = alice_ring
    text = json.dumps(record)
    assert set(record) == {"kem_public", "sign_public", "kdf", "salt", "sealed_private"}
    for secret in (keys.kem_secret, keys.sign_secret, keys.kem_secret[:64], keys.kem_secret[64:]):
        assert b64e(secret) not in text
        assert secret.hex() not in text


def test_two_keyrings_differ():
    r1, k1 = create_keyring("u", "pw", CHEAP, os.urandom)
    r2, k2 = create_keyring("u", "pw", CHEAP, os.urandom)
    assert k1.kem_secret != k2.kem_secret and k1.sign_secret != k2.sign_secret
    assert r1["salt"] != r2["salt"]
    assert k1.identity.fingerprint != k2.identity.fingerprint


@pytest.mark.parametrize("wrong", ["", "alice-pw ", "Alice-pw", "bob-pw", "alice-p", "alice-pw\n"])
def test_wrong_passphrase_is_authentication_error(alice_ring, wrong):
    record, _ = alice_ring
    with pytest.raises(AuthenticationError) as exc:
        unlock_keyring("alice", record, wrong)
    assert exc.value.message == "wrong passphrase for user 'alice'"
    assert exc.value.exit_code == 3


def test_keyring_is_bound_to_its_user(alice_ring):
    record, _ = alice_ring
    with pytest.raises(AuthenticationError):
        unlock_keyring("mallory", record, "alice-pw")


def test_unicode_passphrase():
    record, keys = create_keyring("wang", "密码-パス-🔑", CHEAP, os.urandom)
    assert unlock_keyring("wang", record, "密码-パス-🔑") == keys
    with pytest.raises(AuthenticationError):
        unlock_keyring("wang", record, "密码-パス-")


# --- KDF parameters are stored with the keyring ---------------------------------------


def test_params_are_recorded_and_used_on_unlock():
    params = KdfParams(memory_cost=256, iterations=2, lanes=2)
    assert params != CHEAP
    record, keys = create_keyring("dave", "dave-pw", params, os.urandom)
    assert record["kdf"] == params.to_dict()
    assert KdfParams.from_dict(record["kdf"]) == params
    assert unlock_keyring("dave", record, "dave-pw") == keys


@pytest.mark.parametrize("field,value", [("iterations", 2), ("memory_cost", 128), ("lanes", 2)])
def test_tampered_params_do_not_unlock(alice_ring, field, value):
    record, _ = alice_ring
    bad = copy.deepcopy(record)
    assert bad["kdf"][field] != value
    bad["kdf"][field] = value
    with pytest.raises(AuthenticationError):
        unlock_keyring("alice", bad, "alice-pw")


def test_unknown_kdf_algorithm(alice_ring):
    record, _ = alice_ring
    bad = copy.deepcopy(record)
    bad["kdf"]["algorithm"] = "scrypt"
    with pytest.raises(IntegrityError) as exc:
        unlock_keyring("alice", bad, "alice-pw")
    assert exc.value.message == "keyring uses unknown KDF 'scrypt'"


@pytest.mark.parametrize("mutate", [
    lambda r: r.pop("kdf"),
    lambda r: r.pop("salt"),
    lambda r: r.pop("sealed_private"),
    lambda r: r["kdf"].pop("lanes"),
    lambda r: r["kdf"].__setitem__("iterations", "many"),
    lambda r: r.__setitem__("salt", "not base64!"),
    lambda r: r.__setitem__("sealed_private", "@@@@"),
    lambda r: r.pop("kem_public"),
], ids=["no-kdf", "no-salt", "no-sealed", "no-lanes", "bad-iterations", "bad-salt", "bad-sealed", "no-public"])
def test_malformed_record_is_integrity_error(alice_ring, mutate):
    record, _ = alice_ring
    bad = copy.deepcopy(record)
    mutate(bad)
    with pytest.raises(IntegrityError):
        unlock_keyring("alice", bad, "alice-pw")


def test_swapped_public_key_does_not_unlock(alice_ring):
    record, _ = alice_ring
    other, _ = create_keyring("alice", "alice-pw", CHEAP, os.urandom)
    bad = dict(record, kem_public=other["kem_public"])
    with pytest.raises(ArchiveError):
        unlock_keyring("alice", bad, "alice-pw")


def test_login_uses_stored_params_whatever_the_profile(archive):
    """Users created under the cheap profile still log in when the default profile is in force."""
    settings = load_settings(archive.root, {"ARCHIVE_HOME": str(archive.root), "ARCHIVE_KDF_PROFILE": "default"})
    assert settings.kdf_params == PROFILES["default"]
    home = ArchiveHome(settings, reporter=MemoryReporter())
    bob = home.login("bob", "bob-pw")
    assert bob.user == "bob"
    with pytest.raises(AuthenticationError):
        home.login("bob", "alice-pw")


# --- rekey --------------------------------------------------------------------------


def test_rekey_keeps_identity(alice_ring):
    record, keys = alice_ring
    params = KdfParams(memory_cost=128, iterations=1, lanes=1)
    new = rekey_keyring(keys, "new-pw", params, os.urandom)
    assert new["kem_public"] == record["kem_public"]
    assert new["sign_public"] == record["sign_public"]
    assert new["salt"] != record["salt"]
    assert new["kdf"] == params.to_dict()
    again = unlock_keyring("alice", new, "new-pw")
    assert again == keys
    with pytest.raises(AuthenticationError):
        unlock_keyring("alice", new, "alice-pw")
    # the old record is untouched and still opens with the old passphrase
    assert unlock_keyring("alice", record, "alice-pw") == keys


def test_change_passphrase_keeps_access(archive, tmp_path):
    src = tmp_path / "contract.txt"
    src.write_bytes("合同正文".encode())
    bob = archive.login("bob")
    doc = filing.file_document(bob, src, "C001", "contract")
    fingerprint = bob.keyring.identity.fingerprint
    accounts.change_passphrase(bob, "bob-new-pw")
    with pytest.raises(AuthenticationError):
        archive.login("bob")
    bob2 = archive.login("bob", "bob-new-pw")
    assert bob2.keyring.identity.fingerprint == fingerprint
    sink = io.BytesIO()
    reading.read_document(bob2, doc.doc_id, sink)
    assert sink.getvalue() == src.read_bytes()


# --- HPKE and signatures ---------------------------------------------------------------


def test_hpke_round_trip_and_wrong_info(alice_ring):
    _, keys = alice_ring
    ct = hpke_seal(keys.identity.kem_public, b"class key bytes", "info-a")
    assert hpke_open(keys.kem_secret, ct, "info-a") == b"class key bytes"
    assert keys.open_sealed(ct, "info-a") == b"class key bytes"
    for wrong in ("info-b", "", "info-a "):
        with pytest.raises(IntegrityError):
            hpke_open(keys.kem_secret, ct, wrong)
        with pytest.raises(IntegrityError):
            keys.open_sealed(ct, wrong)


def test_hpke_wrong_recipient(alice_ring):
    _, keys = alice_ring
    _, other = create_keyring("bob", "bob-pw", CHEAP, os.urandom)
    ct = hpke_seal(keys.identity.kem_public, b"secret", "info")
    with pytest.raises(IntegrityError):
        other.open_sealed(ct, "info")


def test_hpke_tampered_ciphertext(alice_ring):
    _, keys = alice_ring
    ct = hpke_seal(keys.identity.kem_public, b"secret", "info")
    for pos in (0, 100, 1100, len(ct) - 20, len(ct) - 1):
        bad = bytearray(ct)
        bad[pos] ^= 0x01
        with pytest.raises(IntegrityError):
            keys.open_sealed(bytes(bad), "info")
    with pytest.raises(IntegrityError):
        keys.open_sealed(ct[:-1], "info")
    with pytest.raises(IntegrityError):
        keys.open_sealed(b"", "info")


def test_hpke_rejects_public_key_of_wrong_length(alice_ring):
    _, keys = alice_ring
    with pytest.raises(IntegrityError):
        hpke_seal(keys.identity.kem_public[:-1], b"x", "info")


def test_signatures(alice_ring):
    _, keys = alice_ring
    sig = keys.sign(b"event 1")
    assert verify_signature(keys.identity.sign_public, sig, b"event 1")
    assert not verify_signature(keys.identity.sign_public, sig, b"event 2")
    _, other = create_keyring("bob", "bob-pw", CHEAP, os.urandom)
    assert not verify_signature(other.identity.sign_public, sig, b"event 1")


# --- unlocked secrets are buffers the keyring owns, overwritten by wipe() -------------


def test_unlocked_secrets_are_bytearrays_wiped_in_place(alice_ring):
    record, _ = alice_ring
    keys = unlock_keyring("alice", record, "alice-pw")
    secrets = [keys.kem_secret, keys.sign_secret]
    assert all(type(s) is bytearray and any(s) for s in secrets)
    assert "kem_secret" not in repr(keys) and "sign_secret" not in repr(keys)
    assert not keys.wiped
    other = dataclasses.replace(keys, root=b"r" * 32)  # as an upgrade does: a keyring of its own buffers
    keys.wipe()
    assert keys.wiped and keys.kem_secret is secrets[0] and keys.sign_secret is secrets[1]
    assert [len(s) for s in secrets] == [96, 32] and all(not any(s) for s in secrets)
    keys.wipe()  # twice is harmless
    assert not other.wiped and any(other.sign_secret)
    assert verify_signature(keys.identity.sign_public, other.sign(b"x"), b"x")


def test_a_wiped_keyring_refuses_to_sign_or_open_rather_than_use_zeros():
    _, keys = create_keyring("erin", "erin-pw", CHEAP, os.urandom)
    ct = hpke_seal(keys.identity.kem_public, b"class key", "info")
    keys.wipe()
    with pytest.raises(AuthenticationError) as exc:
        keys.sign(b"event")
    assert "erin" in exc.value.message and exc.value.hint
    with pytest.raises(AuthenticationError):
        keys.open_sealed(ct, "info")
    with pytest.raises(AuthenticationError):
        rekey_keyring(keys, "new-pw", CHEAP, os.urandom)


def test_no_copy_of_the_secrets_or_the_passphrase_key_outlives_create_or_unlock(monkeypatch):
    """The buffers a keyring is sealed from and unsealed into, and the key
    derived from the passphrase, are overwritten once used."""
    from archive_manager.crypto import keyring as keyring_module, primitives

    kept: list = []

    def keeping(real, argument=None):
        def wrapper(*args, **kw):
            out = real(*args, **kw)
            kept.append(out if argument is None else args[argument])
            return out
        return wrapper

    monkeypatch.setattr(keyring_module, "derive_passphrase_key", keeping(keyring_module.derive_passphrase_key))
    # the plaintext sealed: the secrets side by side
    monkeypatch.setattr(primitives, "aead_encrypt", keeping(primitives.aead_encrypt, 1))
    monkeypatch.setattr(primitives, "aead_decrypt_secret", keeping(primitives.aead_decrypt_secret))
    record, keys = create_keyring("frank", "frank-pw", CHEAP, os.urandom)
    again = unlock_keyring("frank", record, "frank-pw")
    assert again == keys
    assert len(kept) == 4  # create: wrapping key, plaintext; unlock: wrapping key, plaintext
    assert all(type(b) is bytearray and len(b) and not any(b) for b in kept)
    with pytest.raises(AuthenticationError):
        unlock_keyring("frank", record, "wrong")
    assert all(not any(b) for b in kept)
