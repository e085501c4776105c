"""Sign-ins hold keys only while they last: sign-out, idle and absolute
timeouts and the server's end drop them; failed sign-ins are limited per
user name and per address, and recorded with the address."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from archive_manager import filing
from archive_manager.audit import AuditLog  # noqa: F401  (the real trail is what the events go to)
from archive_manager.errors import ArchiveError, AuthenticationError
from archive_manager.server.app import create_app
from archive_manager.server.web import ServerSettings
from tests.server.conftest import api_sign_in


def events(archive, action: str) -> list:
    return [e for e in archive.reporter.events if e.action == action]


def test_sign_in_and_out_are_recorded_with_address_and_user_agent(client, archive):
    bob = api_sign_in(client, "bob")
    client.delete("/api/v1/session", headers={**bob, "user-agent": "curl/8"})
    login, = [e for e in events(archive, "login") if e.outcome == "ok"]
    assert login.user == "bob" and login.objects["address"] == "testclient"
    assert login.details["user_agent"].startswith("testclient")
    logout, = events(archive, "logout")
    assert logout.details == {"why": "signed out", "user_agent": "curl/8"}


def test_every_operation_is_recorded_with_the_address(client, archive):
    bob = api_sign_in(client, "bob")
    client.get("/api/v1/search", params={"q": "合同"}, headers=bob)
    search, = events(archive, "search")
    assert search.user == "bob" and search.objects["address"] == "testclient"
    assert search.details["query"] == "合同"


def test_sign_out_drops_the_keys(client, app, archive):
    before = archive.home.open_sessions()  # the fixtures' own
    bob = api_sign_in(client, "bob")
    session = next(iter(app.state.signins._by_digest.values())).session
    assert archive.home.open_sessions() == before + 1
    client.delete("/api/v1/session", headers=bob)
    assert archive.home.open_sessions() == before
    assert session.ended and session.keyring is None and session._keys == {} and session.indexes == {}


def signed_in_session(app):
    signin, = app.state.signins._by_digest.values()
    return signin.session


def busy_secrets(session, tmp_path) -> list:
    """Make ``session`` unlock what a working sign-in holds (class keys, a
    kept slot), then the very buffers of its secrets."""
    p = tmp_path / "note.txt"
    p.write_text("合同 补充协议", encoding="utf-8")
    filing.file_document(session, p, "C001", "contract")
    found = [session.keyring.kem_secret, session.keyring.sign_secret, *session._keys.values()]
    for slot, _ in session._slots.values():
        found += slot.keys.values()
    assert len(found) >= 5 and all(type(b) is bytearray and any(b) for b in found)
    return found


def test_sign_out_overwrites_the_keys_in_place(client, app, tmp_path):
    bob = api_sign_in(client, "bob")
    assert client.get("/api/v1/search", params={"q": "合同"}, headers=bob).status_code == 200
    session = signed_in_session(app)
    secrets, ring = busy_secrets(session, tmp_path), session.keyring
    assert client.delete("/api/v1/session", headers=bob).status_code == 204
    assert all(not any(b) for b in secrets) and ring.wiped
    with pytest.raises(AuthenticationError):
        ring.sign(b"an event")


@pytest.mark.parametrize("over", ["idle", "expired"])
def test_a_timeout_overwrites_the_keys_in_place(client, app, archive, clock, tmp_path, over):
    bob = api_sign_in(client, "bob")
    session = signed_in_session(app)
    secrets = busy_secrets(session, tmp_path)
    if over == "idle":
        clock.now += 15 * 60 + 1
    else:
        for _ in range(8 * 4 + 1):
            clock.now += 15 * 60 - 1
            assert not any(b == bytearray(len(b)) for b in secrets)
            client.get("/api/v1/clients", headers=bob)
    assert client.get("/api/v1/clients", headers=bob).status_code == 401
    assert all(not any(b) for b in secrets) and session.ended
    assert [e.details["why"] for e in events(archive, "logout")] == [over]


def test_sweep_and_shutdown_overwrite_the_keys(archive, filed, clock, tmp_path):
    app = create_app(archive.home, ServerSettings(), clock=clock, failed_delay=0.0)
    with TestClient(app, base_url="https://testserver") as c:
        api_sign_in(c, "bob")
        bob = busy_secrets(signed_in_session(app), tmp_path)
        clock.now += 16 * 60
        assert app.state.signins.sweep() == 1
        assert all(not any(b) for b in bob)
        api_sign_in(c, "carol")
        carol = signed_in_session(app)
        secrets = [carol.keyring.kem_secret, carol.keyring.sign_secret]
    assert all(not any(b) for b in secrets) and carol.ended


def test_keys_go_even_if_the_logout_cannot_be_recorded(client, app, archive, tmp_path, monkeypatch):
    bob = api_sign_in(client, "bob")
    session = signed_in_session(app)
    secrets = busy_secrets(session, tmp_path)

    def failing(*args, **kw):
        raise ArchiveError("the audit trail is not writable")

    monkeypatch.setattr(archive.home, "sign_out", failing)
    client.delete("/api/v1/session", headers=bob)
    assert session.ended and all(not any(b) for b in secrets)


def test_idle_and_absolute_timeouts(client, app, archive, clock):
    before = archive.home.open_sessions()
    bob = api_sign_in(client, "bob")
    clock.now += 14 * 60
    assert client.get("/api/v1/clients", headers=bob).status_code == 200  # restarts the idle timer
    clock.now += 14 * 60
    assert client.get("/api/v1/clients", headers=bob).status_code == 200
    clock.now += 15 * 60 + 1
    assert client.get("/api/v1/clients", headers=bob).status_code == 401
    assert [e.details["why"] for e in events(archive, "logout")] == ["idle"]
    assert archive.home.open_sessions() == before
    carol = api_sign_in(client, "carol")
    for _ in range(8 * 4 + 1):  # active all day: the absolute limit (8 hours) still ends it
        clock.now += 15 * 60 - 1
        client.get("/api/v1/clients", headers=carol)
    assert client.get("/api/v1/clients", headers=carol).status_code == 401
    assert [e.details["why"] for e in events(archive, "logout")] == ["idle", "expired"]


def test_sweep_signs_out_the_idle_without_a_request(app, client, clock, archive):
    before = archive.home.open_sessions()
    api_sign_in(client, "bob")
    clock.now += 16 * 60
    assert app.state.signins.sweep() == 1
    assert archive.home.open_sessions() == before


def test_server_shutdown_drops_every_sign_in(archive, filed, clock):
    before = archive.home.open_sessions()
    app = create_app(archive.home, ServerSettings(), clock=clock, failed_delay=0.0)
    with TestClient(app, base_url="https://testserver") as c:
        api_sign_in(c, "bob")
        api_sign_in(c, "alice")
        assert archive.home.open_sessions() == before + 2
    assert archive.home.open_sessions() == before
    assert sorted(e.user for e in events(archive, "logout")) == ["alice", "bob"]
    assert {e.details["why"] for e in events(archive, "logout")} == {"server stopped"}


def test_failed_sign_ins_are_limited_per_user_and_do_not_lock_out_others(client, archive, clock):
    for _ in range(5):
        assert client.post("/api/v1/session", json={"user": "bob", "passphrase": "x"}).status_code == 401
    r = client.post("/api/v1/session", json={"user": "bob", "passphrase": "bob-pw"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0  # even the right passphrase waits
    # the address is locked too, so another user from elsewhere still signs in
    other = TestClient(client.app, base_url="https://testserver", client=("10.0.0.9", 5000))
    assert other.post("/api/v1/session", json={"user": "carol", "passphrase": "carol-pw"}).status_code == 201
    denied = [e for e in events(archive, "login") if e.outcome == "denied"]
    assert len(denied) == 6 and all(e.objects["address"] == "testclient" for e in denied)
    clock.now += 61
    assert client.post("/api/v1/session", json={"user": "bob", "passphrase": "bob-pw"}).status_code == 201


def test_lockouts_double(client, clock):
    for _ in range(5):
        client.post("/api/v1/session", json={"user": "bob", "passphrase": "x"})
    clock.now += 61
    for _ in range(5):
        client.post("/api/v1/session", json={"user": "bob", "passphrase": "x"})
    r = client.post("/api/v1/session", json={"user": "bob", "passphrase": "bob-pw"})
    assert r.status_code == 429 and 60 < int(r.headers["retry-after"]) <= 121


def test_tokens_are_random_and_not_kept_in_clear(client, app):
    tokens = {api_sign_in(client, "bob")["authorization"] for _ in range(3)}
    assert len(tokens) == 3
    for t in tokens:
        assert t.split()[1] not in repr(app.state.signins._by_digest.keys())
