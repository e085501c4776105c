"""A session that ends (a server's sign-out or timeout) overwrites the secrets
it unlocked, in place, before it lets them go: its keyring's private keys,
the class keys it cached and the content keys of the slots it kept. What
ended cannot decrypt or sign any more: it says so with the library's error."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from archive_manager import filing, reading, searching
from archive_manager.crypto import hpke_seal
from archive_manager.errors import ArchiveError, AuthenticationError


def put(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def held_secrets(session) -> list:
    """The very buffers of every secret ``session`` holds now."""
    ring = session.keyring
    found = [ring.kem_secret, ring.sign_secret, *session._keys.values()]
    for slot, _ in session._slots.values():
        found += slot.keys.values()
    return found


@pytest.fixture
def busy(archive, tmp_path):
    """bob's session after a filing, a read and a search: class keys cached,
    a slot kept with its content key."""
    bob = archive.login("bob")
    doc = filing.file_document(bob, put(tmp_path, "c.txt", "广告发布合同 付款条款"), "C001", "contract")
    reading.read_document(bob, doc.doc_id, io.BytesIO())
    searching.search(bob, "合同")
    return bob, doc.doc_id


def test_a_session_holds_its_secrets_in_buffers_it_owns(busy):
    bob, _ = busy
    secrets = held_secrets(bob)
    assert len(bob._keys) >= 2 and bob._slots  # the directory's and the contract class's; a kept slot
    assert all(type(s) is bytearray for s in secrets)
    assert all(any(s) for s in secrets)
    assert len({id(s) for s in secrets}) == len(secrets)


def test_end_overwrites_every_secret_in_place(busy):
    bob, _ = busy
    ring, kept = bob.keyring, [slot for slot, _ in bob._slots.values()]
    secrets = held_secrets(bob)
    sizes = [len(s) for s in secrets]
    bob.end()
    assert [len(s) for s in secrets] == sizes
    assert all(not any(s) for s in secrets)
    assert bob.keyring is None and bob._keys == {} and bob._slots == {} and bob.ended
    assert ring.wiped and all(slot.wiped for slot in kept)
    bob.end()  # twice is harmless


def test_an_ended_session_cannot_decrypt_or_sign(busy, tmp_path):
    bob, doc_id = busy
    ring, signer = bob.keyring, bob.signer
    slot = next(iter(bob._slots.values()))[0]
    sealed = hpke_seal(ring.identity.kem_public, b"a class key", "info")
    assert ring.open_sealed(sealed, "info") == b"a class key"
    bob.end()
    with pytest.raises(AuthenticationError):
        reading.read_document(bob, doc_id, io.BytesIO())
    with pytest.raises(AuthenticationError):
        filing.file_document(bob, put(tmp_path, "d.txt", "另一份合同"), "C001", "contract")
    with pytest.raises(AuthenticationError):
        searching.search(bob, "合同")
    with pytest.raises(AuthenticationError):
        bob.class_key("contract")
    with pytest.raises(AuthenticationError):
        bob.signer
    # what was handed out before the end refuses too, rather than use zeros
    with pytest.raises(AuthenticationError):
        signer.sign(b"an event")
    with pytest.raises(AuthenticationError):
        ring.sign(b"an event")
    with pytest.raises(AuthenticationError):
        ring.open_sealed(sealed, "info")
    with pytest.raises(ArchiveError):
        slot.content_key(slot.epoch)
    with pytest.raises(ArchiveError):
        slot.wrapped_keys(bytearray(32), 1, lambda n: bytes(n))


def test_sign_out_through_the_home_overwrites_the_keys(archive, busy):
    bob, _ = busy
    secrets = held_secrets(bob)
    archive.home.sign_out(bob)
    assert all(not any(s) for s in secrets)
    logout, = [e for e in archive.reporter.events if e.action == "logout"]
    assert logout.user == "bob" and logout.outcome == "ok"  # signed before the keys went


def test_other_sessions_of_the_same_user_keep_their_keys(archive, busy):
    bob, doc_id = busy
    again = archive.login("bob")
    reading.read_document(again, doc_id, io.BytesIO())
    bob.end()
    assert all(any(s) for s in held_secrets(again))
    sink = io.BytesIO()
    reading.read_document(again, doc_id, sink)
    assert sink.getvalue() == "广告发布合同 付款条款".encode()
