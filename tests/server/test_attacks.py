"""Attacks on the server, as an outsider or a curious department user would
try them. Each test names the attempt and asserts the secure outcome.

Users: alice (admin, every class), bob (legal: basic, contract, service),
carol (credit: basic, credit). C001 holds a contract (class contract) and
minutes (class communication)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from archive_manager import clients as client_ops
from archive_manager import filing
from archive_manager.server.app import create_app
from archive_manager.server.web import ServerSettings
from tests.server.conftest import PASSWORDS, api_sign_in, page_sign_in

try:
    import httpx
except ModuleNotFoundError:  # this environment ships httpx as httpx2
    import httpx2 as httpx

SECURITY_HEADERS = ("content-security-policy", "x-frame-options", "x-content-type-options", "referrer-policy")
ATTACKER = ("203.0.113.66", 4444)


def csrf_of(html: str) -> str:
    return html.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def events(archive, action: str) -> list:
    return [e for e in archive.reporter.events if e.action == action]


def lenient(app, client=("testclient", 50000), **kw) -> TestClient:
    """A client that sees a server error as a 500 response instead of an exception."""
    return TestClient(app, base_url="https://testserver", raise_server_exceptions=False, client=client, **kw)


def page_client(app, user: str, address=("testclient", 50000)) -> TestClient:
    c = TestClient(app, base_url="https://testserver", client=address)
    assert page_sign_in(c, user).status_code == 303
    return c


# --- reading another class's documents or counts ---------------------------------------------


def test_credit_user_cannot_reach_the_contract_through_any_api_route_or_filter(client, filed):
    """carol (credit) tries every API route and search filter to see the contract (legal's class)."""
    carol = api_sign_in(client, "carol")
    contract = filed["contract"]
    attempts = [
        ("/api/v1/search", {"q": "合同"}),
        ("/api/v1/search", {"q": "HT-2026-001"}),
        ("/api/v1/search", {"q": "付款"}),
        ("/api/v1/search", {"client": "C001"}),                   # a listing of the whole dossier
        ("/api/v1/search", {"since": "2000-01-01"}),               # a listing of everything since
        ("/api/v1/search", {"q": "合同", "client": "C001", "limit": "1000"}),
        ("/api/v1/search", {"type": "contract"}),                  # ask for the class by its type
        ("/api/v1/search", {"q": "合同", "type": "contract"}),
        ("/api/v1/search", {"type": "contract-amendment"}),
        ("/api/v1/search", {"type": "minutes"}),                   # communication: not carol's either
        ("/api/v1/clients/C001", {}),
        ("/api/v1/clients", {}),
        (f"/api/v1/documents/{contract}", {}),
        (f"/api/v1/documents/{filed['minutes']}", {}),
    ]
    for path, params in attempts:
        r = client.get(path, params=params, headers=carol)
        echoed = r.text.replace(path.rsplit("/", 1)[1], "")  # the id the attacker typed may be echoed
        assert contract not in echoed and filed["minutes"] not in echoed, (path, params)
        assert "广告发布" not in r.text and "contract.txt" not in r.text, (path, params)  # its text, its file
        if r.status_code == 200 and path == "/api/v1/search":
            assert r.json()["total"] == 0 and r.json()["hits"] == [], (path, params)  # no count of the hidden
    counts = client.get("/api/v1/clients/C001", headers=carol).json()["documents"]
    assert set(counts) <= {"basic", "credit"}  # no count of contract or communication documents


def test_credit_user_cannot_reach_the_contract_through_the_pages(client, filed):
    """carol tries the search page's filters, the dossier page and the document page."""
    page_sign_in(client, "carol")
    contract, minutes = filed["contract"], filed["minutes"]
    for params in ({"q": "合同"}, {"client": "C001"}, {"since": "2000-01-01"}, {"type": "contract"},
                   {"type": "minutes", "client": "C001"}, {"q": "合同", "page": "2"}):
        r = client.get("/search", params=params)
        assert contract not in r.text and minutes not in r.text, params
        assert "HT-2026-001" not in r.text, params
        if r.status_code == 200 and 'class="count"' in r.text:
            assert re.search(r'class="count">\s*0 ', r.text), params
    dossier = client.get("/clients/C001").text
    assert contract not in dossier and minutes not in dossier
    assert "contract.txt" not in dossier and "minutes.txt" not in dossier
    for doc in (contract, minutes):
        r = client.get(f"/documents/{doc}")
        assert r.status_code == 404 and "contract.txt" not in r.text and "minutes.txt" not in r.text


def test_a_forbidden_document_answers_exactly_like_a_missing_one(client, filed):
    """carol probes document ids: a real contract id and a made-up one must not be told apart."""
    carol = api_sign_in(client, "carol")
    real = filed["contract"]
    fake = real[:-1] + ("a" if real[-1] != "a" else "b")
    r_real = client.get(f"/api/v1/documents/{real}", headers=carol)
    r_fake = client.get(f"/api/v1/documents/{fake}", headers=carol)
    assert r_real.status_code == r_fake.status_code == 404
    assert r_real.text.replace(real, "ID") == r_fake.text.replace(fake, "ID")
    page_sign_in(client, "carol")
    p_real, p_fake = client.get(f"/documents/{real}"), client.get(f"/documents/{fake}")
    assert p_real.status_code == p_fake.status_code == 404
    strip = (lambda html, i: re.sub(r'name="csrf" value="[^"]*"', "", html).replace(i, "ID"))
    assert strip(p_real.text, real) == strip(p_fake.text, fake)


@pytest.mark.parametrize("path", [
    "/api/v1/clients/..", "/api/v1/clients/C001%2F..", "/api/v1/clients/%2e%2e",
    "/api/v1/clients/C001%00", "/api/v1/clients/c001", "/api/v1/clients/C001%20", "/api/v1/clients/%ff%fe",
    "/api/v1/clients/" + "C" * 5000,
    "/api/v1/documents/..", "/api/v1/documents/C001-..%2F..%2Fvault", "/api/v1/documents/%2e%2e%2fvault.json",
    "/api/v1/documents/C001-%00", "/api/v1/documents/C001-" + "a" * 5000, "/api/v1/documents/%ff",
    "/clients/..%2F..%2Fvault", "/clients/%ff", "/documents/..%2f..%2fvault.json", "/documents/C001-%00x",
])
def test_path_tricks_in_codes_and_ids_get_nothing(app, filed, path):
    """Path traversal, NUL bytes, case folding, invalid UTF-8 and very long values in {code} and {doc_id}."""
    c = lenient(app)
    page_sign_in(c, "carol")
    carol = api_sign_in(c, "carol")
    r = c.get(path, headers=carol if path.startswith("/api/") else {}, follow_redirects=False)
    assert r.status_code in (400, 404), (path, r.status_code)
    assert filed["contract"] not in r.text and "vault" not in r.text.lower().replace("/vault", "")
    assert "Traceback" not in r.text


# --- addresses and headers ----------------------------------------------------------------------


def test_x_forwarded_for_is_ignored_without_a_trusted_proxy(client, archive):
    """A direct client claims another address in X-Forwarded-For / X-Real-IP / Forwarded."""
    spoof = {"x-forwarded-for": "198.51.100.1", "x-real-ip": "198.51.100.2", "forwarded": "for=198.51.100.3"}
    r = client.post("/api/v1/session", json={"user": "bob", "passphrase": "bob-pw"}, headers=spoof)
    assert r.status_code == 201
    client.get("/api/v1/clients", headers={"authorization": f"Bearer {r.json()['token']}", **spoof})
    client.post("/api/v1/session", json={"user": "bob", "passphrase": "nope"}, headers=spoof)
    recorded = [e.objects.get("address") for e in archive.reporter.events if "address" in e.objects]
    assert recorded and set(recorded) == {"testclient"}


def test_spoofed_forwarded_addresses_do_not_escape_the_address_throttle(app):
    """An attacker rotates X-Forwarded-For (and user names) to dodge the per-address lock-out."""
    c = TestClient(app, base_url="https://testserver", client=ATTACKER)
    for i in range(5):
        r = c.post("/api/v1/session", json={"user": f"nobody{i}", "passphrase": "x"},
                   headers={"x-forwarded-for": f"192.0.2.{i}"})
        assert r.status_code == 401
    r = c.post("/api/v1/session", json={"user": "carol", "passphrase": "carol-pw"},
               headers={"x-forwarded-for": "192.0.2.200"})
    assert r.status_code == 429


def test_behind_a_trusted_proxy_the_client_cannot_choose_its_address(archive, filed, clock):
    """Through a trusted proxy, the client prepends fake entries to X-Forwarded-For, or sends garbage."""
    app = create_app(archive.home, ServerSettings(trusted_proxies=("10.0.0.1",)), clock=clock, failed_delay=0.0)
    proxy = TestClient(app, base_url="https://testserver", client=("10.0.0.1", 443))
    proxy.post("/api/v1/session", json={"user": "bob", "passphrase": "x"},
               headers={"x-forwarded-for": "127.0.0.1, 192.0.2.9"})  # the proxy appended the real one
    proxy.post("/api/v1/session", json={"user": "bob", "passphrase": "x"},
               headers={"x-forwarded-for": "192.0.2.9, not-an-address"})
    proxy.post("/api/v1/session", json={"user": "bob", "passphrase": "x"},
               headers={"x-forwarded-for": "a" * 5000})
    direct = TestClient(app, base_url="https://testserver", client=("192.0.2.50", 1))
    direct.post("/api/v1/session", json={"user": "bob", "passphrase": "x"}, headers={"x-forwarded-for": "10.0.0.7"})
    denied = [e.objects["address"] for e in events(archive, "login") if e.outcome == "denied"]
    assert denied == ["192.0.2.9", "10.0.0.1", "10.0.0.1", "192.0.2.50"]


def test_a_huge_user_agent_is_cut_in_the_trail(client, archive):
    """An attacker sends a huge User-Agent to bloat the audit trail (kept for at least 184 days)."""
    agent = "Mozilla/5.0 " + "A" * 20000
    client.post("/api/v1/session", json={"user": "bob", "passphrase": "x"}, headers={"user-agent": agent})
    bob = api_sign_in(client, "bob")
    client.get("/api/v1/clients", headers={**bob, "user-agent": agent})
    recorded = [e.details.get("user_agent", "") for e in archive.reporter.events]
    assert recorded and max(len(a) for a in recorded) <= 1000


def test_a_huge_or_odd_user_name_is_not_written_to_the_trail_in_full(app, archive):
    """An unauthenticated attacker signs in as a 200 000-character user name: the clear-text `user`
    field of every denial would carry it into the permanent trail."""
    c = lenient(app, client=ATTACKER)
    r = c.post("/api/v1/session", json={"user": "x" * 200_000, "passphrase": "x"})
    assert r.status_code in (400, 401, 413)
    assert all(len(e.user or "") <= 1000 for e in archive.reporter.events)
    assert "x" * 1001 not in r.text  # nor echoed back


# --- CSRF ---------------------------------------------------------------------------------------


def test_sign_out_form_refuses_missing_forged_and_other_users_tokens(app):
    """A cross-site form posts to /signout with no token, a forged one, another user's, or the
    sign-in form's token; only the user's own token signs them out."""
    bob = page_client(app, "bob")
    alice = page_client(app, "alice", ("10.1.1.1", 1))
    alice_token = csrf_of(alice.get("/search").text)
    form_token = csrf_of(TestClient(app, base_url="https://testserver").get("/signin").text)
    for data, headers in (({}, {}), ({"csrf": ""}, {}), ({"csrf": "forged"}, {}), ({"csrf": alice_token}, {}),
                          ({"csrf": form_token}, {}), ({}, {"x-csrf-token": alice_token})):
        r = bob.post("/signout", data=data, headers=headers, follow_redirects=False)
        assert r.status_code == 403, (data, headers)
        assert len(app.state.signins) == 2
    assert bob.get("/search", follow_redirects=False).status_code == 200


def test_cookie_api_sign_out_refuses_missing_forged_and_other_users_tokens(app):
    """DELETE /api/v1/session riding on the page's cookie with a bad X-CSRF-Token."""
    bob = page_client(app, "bob")
    alice = page_client(app, "alice", ("10.1.1.1", 1))
    alice_token = csrf_of(alice.get("/search").text)
    for headers in ({}, {"x-csrf-token": ""}, {"x-csrf-token": "forged"}, {"x-csrf-token": alice_token},
                    {"x-csrf-token": b"\xff" * 43}):
        r = bob.delete("/api/v1/session", headers=headers)
        assert r.status_code == 403, headers
    assert len(app.state.signins) == 2


def test_login_csrf_without_the_forms_cookie_is_refused(app):
    """Login CSRF: a cross-site page posts the attacker's own credentials and the token of a form the
    attacker fetched himself (the victim's browser does not send the attacker's am_signin cookie)."""
    attacker = TestClient(app, base_url="https://testserver")
    token = csrf_of(attacker.get("/signin").text)
    victim = TestClient(app, base_url="https://testserver")
    victim.get("/signin")  # the victim has a form cookie of their own
    r = victim.post("/signin", data={"user": "carol", "passphrase": "carol-pw", "csrf": token}, follow_redirects=False)
    assert r.status_code == 403 and "am_session=" not in r.headers.get("set-cookie", "")
    fresh = TestClient(app, base_url="https://testserver")  # no cookie at all
    r = fresh.post("/signin", data={"user": "carol", "passphrase": "carol-pw", "csrf": token}, follow_redirects=False)
    assert r.status_code == 403 and len(app.state.signins) == 0
    r = fresh.post("/signin", data={"user": "carol", "passphrase": "carol-pw", "csrf": ""}, follow_redirects=False,
                   cookies={"am_signin": ""})
    assert r.status_code == 403 and len(app.state.signins) == 0


def test_get_and_method_override_never_change_state(client, app):
    """Method confusion: GET/HEAD on POST/DELETE routes, and X-HTTP-Method-Override / _method."""
    page_sign_in(client, "bob")
    token = csrf_of(client.get("/search").text)
    bob = api_sign_in(client, "bob")
    assert len(app.state.signins) == 2
    for method, path in (("GET", "/signout"), ("HEAD", "/signout"), ("GET", f"/signout?csrf={token}"),
                         ("GET", "/api/v1/session"), ("HEAD", "/api/v1/session"), ("PUT", "/api/v1/session"),
                         ("PATCH", "/signout"), ("OPTIONS", "/api/v1/session")):
        r = client.request(method, path, headers={**bob, "x-csrf-token": token}, follow_redirects=False)
        assert r.status_code in (405, 404), (method, path, r.status_code)
    r = client.post("/api/v1/session?_method=DELETE", headers={**bob, "x-http-method-override": "DELETE"},
                    json={})
    assert r.status_code == 400
    r = client.post("/search", data={"_method": "DELETE"}, follow_redirects=False)
    assert r.status_code == 405
    assert len(app.state.signins) == 2


# --- sessions ---------------------------------------------------------------------------------------


def test_session_fixation_a_planted_cookie_never_becomes_the_session(client, app):
    """The attacker plants am_session=<known value> in the victim's browser before they sign in."""
    planted = "A" * 43
    client.cookies.set("am_session", planted, domain="testserver", path="/")
    r = page_sign_in(client, "bob")
    assert r.status_code == 303
    issued = r.cookies.get("am_session")
    assert issued and issued != planted
    assert client.get("/api/v1/clients", headers={"authorization": f"Bearer {planted}"}).status_code == 401
    attacker = TestClient(app, base_url="https://testserver", cookies={"am_session": planted})
    assert attacker.get("/search", follow_redirects=False).status_code == 303


def test_a_token_is_dead_after_sign_out_and_after_a_timeout(app, clock):
    """The attacker replays a stolen cookie / bearer token after the user signed out or went idle."""
    bob = page_client(app, "bob")
    stolen = bob.cookies.get("am_session")
    bob.post("/signout", data={"csrf": csrf_of(bob.get("/search").text)})
    thief = TestClient(app, base_url="https://testserver", client=ATTACKER)
    assert thief.get("/search", cookies={"am_session": stolen}, follow_redirects=False).status_code == 303
    assert thief.get("/api/v1/clients", headers={"authorization": f"Bearer {stolen}"}).status_code == 401
    carol = api_sign_in(thief, "carol")
    clock.now += 15 * 60 + 1
    assert thief.get("/api/v1/clients", headers=carol).status_code == 401
    clock.now -= 15 * 60 + 1  # the clock going back does not revive it
    assert thief.get("/api/v1/clients", headers=carol).status_code == 401


def test_the_token_is_taken_only_from_the_header_or_cookie(client):
    """A token in the query string or the body (leaks through logs and Referer) is not honoured."""
    token = api_sign_in(client, "bob")["authorization"].split()[1]
    for params in ({"token": token}, {"access_token": token}, {"am_session": token}):
        assert client.get("/api/v1/clients", params=params).status_code == 401
    assert client.get("/api/v1/clients", headers={"authorization": f"Basic {token}"}).status_code == 401
    assert client.get("/api/v1/clients", headers={"authorization": f"bearer  {token}x"}).status_code == 401


def test_cookie_flags(client):
    """The session cookie must be HttpOnly, SameSite=Strict, Path=/, and Secure when the request came
    over HTTPS (here the request is https://testserver)."""
    form = client.get("/signin")
    form_cookie = form.headers["set-cookie"].lower()
    assert "httponly" in form_cookie and "samesite=strict" in form_cookie and "path=/signin" in form_cookie
    r = page_sign_in(client, "bob")
    cookie = [c for c in r.headers.get_list("set-cookie") if c.startswith("am_session=")][0].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert "secure" in [part.strip() for part in cookie.split(";")], f"no Secure flag over https: {cookie}"


def test_tls_responses_carry_hsts(archive, filed, clock):
    """A server configured for TLS must tell browsers never to downgrade to http (SSL-stripping)."""
    app = create_app(archive.home, ServerSettings(secure_cookies=True), clock=clock, failed_delay=0.0)
    c = TestClient(app, base_url="https://testserver")
    assert "max-age=" in c.get("/signin").headers.get("strict-transport-security", "")


# --- the throttle and user-name enumeration -------------------------------------------------------


def test_unknown_user_and_wrong_passphrase_look_the_same_on_the_api(app):
    """User-name enumeration: compare the API's answer for a real user with a wrong passphrase and for
    a user that does not exist (status, headers, body)."""
    c = lenient(app, client=ATTACKER)
    known = c.post("/api/v1/session", json={"user": "bob", "passphrase": "guess"})
    c2 = lenient(app, client=("203.0.113.67", 1))
    unknown = c2.post("/api/v1/session", json={"user": "bobx", "passphrase": "guess"})
    assert known.status_code == unknown.status_code == 401
    assert known.text.replace("bob", "NAME") == unknown.text.replace("bobx", "NAME"), (known.text, unknown.text)


def test_a_removed_user_answers_like_an_unknown_one(app, archive):
    """Enumeration of former staff: signing in as a removed user must look like an unknown name."""
    from archive_manager import accounts

    accounts.remove_user(archive.login("alice"), "carol")
    removed = lenient(app, client=ATTACKER).post("/api/v1/session", json={"user": "carol", "passphrase": "guess"})
    unknown = lenient(app, client=("203.0.113.67", 1)).post("/api/v1/session",
                                                           json={"user": "carox", "passphrase": "guess"})
    assert removed.status_code == unknown.status_code == 401
    assert removed.text.replace("carol", "N") == unknown.text.replace("carox", "N"), (removed.text, unknown.text)


def test_unknown_user_and_wrong_passphrase_look_the_same_on_the_page(app):
    """User-name enumeration through the sign-in page."""
    def attempt(user, address):
        c = TestClient(app, base_url="https://testserver", client=address)
        r = page_sign_in(c, user, "guess")
        return r.status_code, re.sub(r'name="csrf" value="[^"]*"', "", r.text).replace(f'value="{user}"', "")
    assert attempt("bob", ATTACKER) == attempt("nosuchuser", ("203.0.113.67", 1))


def test_unknown_user_costs_the_same_key_derivation_as_a_wrong_passphrase(app, monkeypatch):
    """Timing class: without a key derivation for unknown users, the answer comes back measurably
    faster than for a real user (Argon2id), so the user list can be enumerated by timing."""
    from archive_manager.crypto import keyring as keyring_module

    calls = []
    real = keyring_module.derive_passphrase_key
    monkeypatch.setattr(keyring_module, "derive_passphrase_key", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    lenient(app, client=ATTACKER).post("/api/v1/session", json={"user": "bob", "passphrase": "guess"})
    known = len(calls)
    lenient(app, client=("203.0.113.67", 1)).post("/api/v1/session", json={"user": "nosuch", "passphrase": "guess"})
    assert known == 1 and len(calls) - known == known, "unknown user names skip the key derivation"


def test_the_user_throttle_holds_across_many_addresses(app):
    """A botnet guesses bob's passphrase from a new address each time."""
    for i in range(5):
        c = TestClient(app, base_url="https://testserver", client=(f"198.51.100.{i}", 1))
        assert c.post("/api/v1/session", json={"user": "bob", "passphrase": f"g{i}"}).status_code == 401
    c = TestClient(app, base_url="https://testserver", client=("198.51.100.99", 1))
    assert c.post("/api/v1/session", json={"user": "bob", "passphrase": "g9"}).status_code == 429


def test_throttled_answers_do_not_tell_known_from_unknown_users(app):
    """Once locked out, the 429 for a real user and for a made-up one must look the same."""
    def lock(user, address):
        c = TestClient(app, base_url="https://testserver", client=address)
        for _ in range(5):
            c.post("/api/v1/session", json={"user": user, "passphrase": "x"})
        return c.post("/api/v1/session", json={"user": user, "passphrase": "x"})
    known, unknown = lock("carol", ("198.51.100.1", 1)), lock("nosuch", ("198.51.100.2", 1))
    assert known.status_code == unknown.status_code == 429
    assert known.text.replace("carol", "N") == unknown.text.replace("nosuch", "N")


def test_concurrent_guesses_do_not_slip_past_the_throttle(app, archive):
    """The attacker fires 30 guesses at once: every one passes the throttle's check before the first
    failure is recorded, so a burst gets 30 key derivations instead of 5."""
    tried = []
    signins = app.state.signins
    real = signins.sign_in

    def counting(user, passphrase, origin):
        tried.append(passphrase)
        return real(user, passphrase, origin)
    signins.sign_in = counting

    async def burst():
        transport = httpx.ASGITransport(app=app, client=ATTACKER)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
            return await asyncio.gather(*[c.post("/api/v1/session", json={"user": "bob", "passphrase": f"g{i}"})
                                          for i in range(30)])
    answers = asyncio.run(burst())
    assert {r.status_code for r in answers} <= {401, 429}
    assert len(tried) <= 5, f"{len(tried)} passphrases were tried in one burst"


# --- redirects ----------------------------------------------------------------------------------


def test_no_open_redirect(client):
    """next=/return_to=/redirect= parameters and scheme-relative paths must never send a user off-site."""
    def off_site(r):
        loc = r.headers.get("location", "")
        return loc.startswith("//") or loc.startswith("/\\") or "://" in loc or "evil" in loc
    for path in ("//evil.example/", "/\\evil.example", "/signin?next=https://evil.example",
                 "/?next=//evil.example", "/signin?return_to=https://evil.example&redirect=//evil.example",
                 "/%2f%2fevil.example", "/search?next=https://evil.example"):
        r = client.get(path, follow_redirects=False)
        assert not off_site(r), (path, r.headers.get("location"))
    form = client.get("/signin")
    r = client.post("/signin?next=https://evil.example", data={"user": "bob", "passphrase": "bob-pw",
                    "csrf": csrf_of(form.text), "next": "https://evil.example"}, follow_redirects=False)
    assert r.status_code == 303 and not off_site(r)
    token = csrf_of(client.get("/search").text)
    r = client.post("/signout?next=//evil.example", data={"csrf": token, "next": "//evil.example"},
                    follow_redirects=False)
    assert not off_site(r)


# --- cross-site scripting -------------------------------------------------------------------------

XSS = ['<script>alert(1)</script>', '"><svg onload=alert(1)>', "'><img src=x onerror=alert(1)>",
       "javascript:alert(1)"]


def _no_raw(html: str) -> None:
    for bad in ("<script>alert", "<svg onload", "<img src=x", '"><svg', "'><img", 'href="javascript:'):
        assert bad not in html, bad


def test_reflected_values_on_the_search_page_are_escaped(client):
    """q, client, type, since, page and lang echoed back into the search page and its error message."""
    page_sign_in(client, "bob")
    for payload in XSS:
        for params in ({"q": payload}, {"q": "合同 " + payload}, {"client": payload}, {"type": payload},
                       {"since": payload}, {"q": "合同", "page": payload}, {"q": payload, "lang": payload}):
            r = client.get("/search", params=params)
            assert r.status_code < 500
            _no_raw(r.text)


def test_reflected_values_on_the_sign_in_page_are_escaped(client):
    """The user name is echoed into the sign-in form after a failure; the lang cookie must not take junk."""
    for payload in XSS:
        form = client.get("/signin")
        r = client.post("/signin", data={"user": payload, "passphrase": "x", "csrf": csrf_of(form.text)})
        _no_raw(r.text)
        r = client.post("/signin", data={"user": payload, "passphrase": "x", "csrf": "forged"})
        _no_raw(r.text)
    r = client.get("/signin", params={"lang": XSS[0]})
    _no_raw(r.text)
    assert "lang=" not in r.headers.get("set-cookie", "").replace("am_signin", "")


def test_error_pages_escape_the_path_and_ids(client):
    """A crafted link to a missing page, client or document puts markup in the URL."""
    page_sign_in(client, "bob")
    for payload in XSS:
        for path in (f"/{payload}", f"/clients/{payload}", f"/documents/{payload}", f"/documents/C001-{payload}"):
            r = client.get(path)
            assert r.status_code in (400, 404), path
            _no_raw(r.text)
        r = client.get(f"/api/v1/clients/{payload}", headers=api_sign_in(client, "bob"))
        assert r.headers["content-type"].startswith("application/json")


def test_stored_markup_in_names_titles_and_file_names_is_escaped(client, archive, tmp_path: Path):
    """An insider files a document whose file name, title and text carry markup, and gives a client a
    name and profile values with markup; every page that shows them must escape them."""
    alice = archive.login("alice")
    client_ops.add_client(alice, "C002", '<script>alert("n")</script>星辰', {"legal_rep": '"><svg onload=alert(1)>'})
    odd = tmp_path / "x"
    odd.mkdir()
    p = odd / "<img src=x onerror=alert(1)>.txt"
    p.write_text("付款 <script>alert(1)</script> ** <img src=x onerror=alert(2)> **", encoding="utf-8")
    doc = filing.file_document(alice, p, "C002", "contract", title="'><img src=x onerror=alert(3)>").doc_id
    page_sign_in(client, "bob")
    for path in ("/clients", "/clients/C002", f"/documents/{doc}", "/search?q=付款", "/search?client=C002",
                 "/search"):
        r = client.get(path)
        assert r.status_code == 200, path
        _no_raw(r.text)


# --- response headers ------------------------------------------------------------------------------


def test_security_headers_and_no_store_on_every_kind_of_answer(app):
    """Error pages, 404s, 405s, HEAD requests, refused form posts and API errors all need the headers."""
    c = lenient(app)
    page_sign_in(c, "bob")
    bob = api_sign_in(c, "bob")
    answers = [c.get("/nothing"), c.get("/api/v1/nothing"), c.get("/signout"), c.head("/search"),
               c.head("/api/v1/clients", headers=bob), c.get("/api/v1/clients"), c.get("/clients/C999"),
               c.get("/documents/bad-id"), c.post("/signin", data={"csrf": "x"}),
               c.post("/signin", content=b"a=" + b"x" * 10000, headers={"content-type":
                                                                       "application/x-www-form-urlencoded"}),
               c.post("/api/v1/session", content=b"{"), c.delete("/api/v1/session"),
               c.get("/api/v1/search", params={"q": "合同 AND"}, headers=bob), c.get("/openapi.json")]
    for r in answers:
        where = (r.request.method, str(r.request.url), r.status_code)
        for h in SECURITY_HEADERS:
            assert h in r.headers, (h, where)
        assert r.headers.get("cache-control") == "no-store", where
        assert "access-control-allow-origin" not in r.headers, where


def test_an_unexpected_server_error_still_carries_the_headers_and_no_traceback(app, monkeypatch):
    """Any request that trips an unexpected exception (a bug the attacker found) must still be answered
    with the security headers and no-store, and without a traceback."""
    from archive_manager import clients as clients_module

    def broken(session):
        raise RuntimeError("internal detail /work/secret")
    monkeypatch.setattr(clients_module, "list_clients", broken)
    c = lenient(app)
    bob = api_sign_in(c, "bob")
    for r in (c.get("/api/v1/clients", headers=bob), c.get("/clients", cookies={}, headers=bob)):
        assert r.status_code == 500
        assert "internal detail" not in r.text and "Traceback" not in r.text
        for h in SECURITY_HEADERS:
            assert h in r.headers, (h, r.request.url)
        assert r.headers.get("cache-control") == "no-store", r.request.url


def test_api_json_is_no_store_json_and_not_shared_cross_origin(client):
    """A cross-origin page reads the API with the user's cookie; a proxy caches a user's JSON."""
    page_sign_in(client, "bob")
    bob = api_sign_in(client, "bob")
    for path in ("/api/v1/clients", "/api/v1/clients/C001", "/api/v1/search?q=合同"):
        for headers in (bob, {"origin": "https://evil.example"}):
            r = client.get(path, headers=headers)
            assert r.status_code == 200, path
            assert r.headers["cache-control"] == "no-store" and r.headers["content-type"] == "application/json"
            assert "access-control-allow-origin" not in r.headers and "access-control-allow-credentials" \
                not in r.headers
    r = client.options("/api/v1/clients", headers={"origin": "https://evil.example",
                                                   "access-control-request-method": "GET"})
    assert "access-control-allow-origin" not in r.headers


# --- malformed, oversized and odd input -----------------------------------------------------------------


def test_an_oversized_sign_in_form_is_refused_early(app):
    """A multi-megabyte /signin post (one huge field, or thousands of fields, or a file upload)."""
    c = lenient(app, client=ATTACKER)
    token = csrf_of(c.get("/signin").text)
    big = c.post("/signin", data={"user": "bob", "passphrase": "p" * 2_000_000, "csrf": token})
    many = c.post("/signin", content="&".join(f"f{i}=1" for i in range(5000)).encode(),
                  headers={"content-type": "application/x-www-form-urlencoded"})
    upload = c.post("/signin", data={"csrf": token, "user": "bob"}, files={"passphrase": ("a.bin", b"x" * 100_000)})
    for r in (big, many, upload):
        assert r.status_code in (400, 403, 413), r.status_code
    assert len(app.state.signins) == 0


def test_an_oversized_json_sign_in_is_refused_early(app, archive, monkeypatch):
    """A multi-megabyte JSON body to POST /api/v1/session: read whole into memory and fed to the key
    derivation; the server should refuse it (413/400) before the KDF."""
    from archive_manager.crypto import keyring as keyring_module

    calls = []
    real = keyring_module.derive_passphrase_key
    monkeypatch.setattr(keyring_module, "derive_passphrase_key", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    c = lenient(app, client=ATTACKER)
    r = c.post("/api/v1/session", content=json.dumps({"user": "bob", "passphrase": "p" * 5_000_000}).encode(),
               headers={"content-type": "application/json"})
    assert r.status_code in (400, 413), r.status_code
    assert calls == []


@pytest.mark.parametrize("body", [
    b"[]", b'"bob"', b"42", b"null", b"true", b'{"user": ["bob"], "passphrase": "bob-pw"}',
    b'{"user": {"$ne": null}, "passphrase": "x"}', b'{"user": "bob", "passphrase": null}',
    b'{"user": "bob", "passphrase": 123}', b'{"user": "", "passphrase": ""}', b"\xff\xfe{",
    b'{"user": "bob", "passphrase": "bob-pw"' , b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000, b"1" * 10_000 + b"e99999999",
])
def test_json_bodies_of_the_wrong_shape_are_400(app, body):
    """NoSQL-style operators, wrong types, truncated and deeply nested JSON, invalid UTF-8."""
    c = lenient(app, client=ATTACKER)
    r = c.post("/api/v1/session", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400, (body[:40], r.status_code, r.text[:200])
    assert r.headers["content-type"] == "application/json"


@pytest.mark.parametrize("user,passphrase", [
    ("bob", "\ud800"), ("\ud800", "x"), ("bob\x00", "bob-pw"), ("bob", "bob-pw\x00"), ("\u202ebob", "x"),
    ("bob\n2026-01-01 login ok alice", "x"),
])
def test_odd_characters_in_the_credentials_are_refused_not_crashed(app, archive, user, passphrase):
    """Lone surrogates (valid JSON escapes, invalid Unicode), NUL bytes, bidi overrides, newlines
    forging a log line: a 4xx, never a server error, and never a sign-in."""
    c = lenient(app, client=ATTACKER)
    r = c.post("/api/v1/session", content=json.dumps({"user": user, "passphrase": passphrase}).encode(),
               headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:200])
    assert len(app.state.signins) == 0


def test_non_utf8_input_to_pages_and_forms(app):
    """Raw invalid UTF-8 in the query string, the form body and the path."""
    c = lenient(app, client=ATTACKER)
    token = csrf_of(c.get("/signin").text)
    r = c.post("/signin", content=b"user=%ff%fe%fd&passphrase=%c0%af&csrf=" + token.encode(),
               headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 401
    r = c.post("/signin", content=b"user=\xff\xfe&passphrase=\xc0\xaf&csrf=" + token.encode(),
               headers={"content-type": "application/x-www-form-urlencoded; charset=utf-8"})
    assert r.status_code in (400, 401, 403)
    page_sign_in(c, "bob")
    for raw in ("/search?q=%ff%fe", "/search?q=%c0%af&client=%ff", "/search?since=%ff", "/search?q=%00",
                "/clients/%c0%ae%c0%ae", "/documents/C001-%ff%ff"):
        r = c.get(raw)
        assert r.status_code in (200, 400, 404), (raw, r.status_code)


def test_very_long_and_pathological_queries_are_bounded(client):
    """A curious user sends a 2 000-character query, a thousand OR terms, a huge page number, a
    NUL byte, and limits out of range."""
    import time

    bob = api_sign_in(client, "bob")
    page_sign_in(client, "bob")
    for q in ("合" * 2000, " OR ".join(["合同"] * 1000), "(" * 2000 + "合同" + ")" * 2000, '"' * 5001,
              "合同\x00付款", "NOT " * 2000 + "合同", "合同 " * 2000):
        start = time.monotonic()
        r = client.get("/api/v1/search", params={"q": q}, headers=bob)
        assert r.status_code in (200, 400), (q[:20], r.status_code)
        assert time.monotonic() - start < 10, q[:20]
    for limit in ("0", "-1", "1001", "1e3", "99999999999999999999", "nan", "5.0"):
        assert client.get("/api/v1/search", params={"q": "合同", "limit": limit}, headers=bob).status_code == 400, limit
    for page in ("999999999999", "-5", "1e9", "0x10"):
        start = time.monotonic()
        r = client.get("/search", params={"q": "合同", "page": page})
        assert r.status_code in (200, 400), page
        assert time.monotonic() - start < 10, page


def test_static_files_cannot_be_escaped(client):
    """Path traversal through the static mount to the app's source or the vault."""
    for path in ("/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2fapp.py", "/static/%2e%2e%2fweb.py",
                 "/static/....//app.py", "/static/..\\app.py", "/static/%252e%252e/app.py",
                 "/static/templates/base.html", "/static/../templates/base.html"):
        r = client.get(path)
        assert r.status_code == 404, path
        assert "import" not in r.text and "{%" not in r.text, path


def test_openapi_gives_nothing_away(client, filed):
    """The unauthenticated spec must not list users, clients, documents or server internals."""
    text = client.get("/openapi.json").text
    for secret in ("alice", "bob", "carol", "C001", filed["contract"], "星辰", "/work", "vault"):
        assert secret not in text, secret
