"""Attacks on the admin desk (issue 19, point 4) from outside: other roles on
every admin route, forged posts, the first sign-in with a one-time
passphrase, markup in names and letterhead values, the letterhead file, and a
file writer on the one-time mark. An attack that works is a failing test."""

from __future__ import annotations

import json
import re
import threading

import pytest
from starlette.testclient import TestClient

from archive_manager import accounts, clients
from archive_manager.server.app import create_app
from archive_manager.server.throttle import Throttle
from archive_manager.server.web import ServerSettings
from archive_manager.vault.users import keyring_digest
from tests.conftest import Archive, open_home
from tests.server.conftest import Clock

ADMIN_GETS = ["/admin", "/admin/users", "/admin/users/bob", "/admin/users/bob/remove", "/admin/policy",
              "/admin/letterhead"]
ADMIN_POSTS = [("/admin/users", {"user": "eve", "departments": "credit"}),
               ("/admin/users/bob/name", {"display_name": "冒名"}),
               ("/admin/users/bob/departments", {"departments": ["legal", "credit"]}),
               ("/admin/users/bob/remove", {}),
               ("/admin/policy", {"expect": "-"}),
               ("/admin/letterhead", {"f_name": "冒名"}),
               ("/admin/letterhead/sign", {"f_name": "冒名", "expect": "-"})]
OTHERS = {"bob": ["legal"], "carol": ["credit"], "aud": ["audit"], "mike": ["marketing"], "biz": ["business"],
          "boss": ["management"]}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("ARCHIVE_KDF_PROFILE", "test")
    root = tmp_path_factory.mktemp("admin-attacks") / "home"
    root.mkdir()
    home = open_home(root)
    home.init("alice", "alice-pw")
    arch = Archive(root, home, home.reporter)
    alice = arch.login("alice")
    for name, depts in OTHERS.items():
        accounts.add_user(alice, name, depts, f"{name}-pw")
    accounts.add_user(alice, "root2", ["archive"], "root2-pw")
    clients.add_client(alice, "C001", "北京星辰传媒有限公司", {"legal_rep": "张伟"})
    app = create_app(arch.home, ServerSettings(), clock=Clock(), failed_delay=0.0)
    yield arch, app
    mp.undo()


def browser(world) -> TestClient:
    return TestClient(world[1], base_url="https://testserver", raise_server_exceptions=False)


def sign_in(c: TestClient, user: str, passphrase: str | None = None):
    form = c.get("/signin")
    csrf = form.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    return c.post("/signin", data={"user": user, "passphrase": passphrase or f"{user}-pw", "csrf": csrf},
                  follow_redirects=False)


def signed_in(world, user: str) -> TestClient:
    c = browser(world)
    assert sign_in(c, user).status_code == 303
    return c


def token(world, user: str, passphrase: str | None = None) -> str:
    r = browser(world).post("/api/v1/session", json={"user": user, "passphrase": passphrase or f"{user}-pw"})
    assert r.status_code == 201, r.text
    return r.json()["token"]


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def hidden(html: str, name: str) -> str:
    return re.search(rf'name="{name}" value="([^"]*)"', html).group(1)


def no_trace(r) -> None:
    assert r.status_code < 500, (r.status_code, r.text[:500])
    assert "Traceback" not in r.text and 'File "' not in r.text


def users_of(world):
    return world[0].home.vault().users().users


def company_file(world):
    return world[0].home.settings.policies_dir / "company.toml"


def snapshot(world) -> dict:
    """What an admin post could change."""
    recs = users_of(world)
    return {"users": {n: (r.departments, r.display_name, r.status) for n, r in recs.items()},
            "policy": world[0].home.vault().paths.policy_json.read_bytes(),
            "company": company_file(world).read_text(encoding="utf-8") if company_file(world).exists() else None}


def everyone_can_sign_in(world) -> None:
    """The policy files and the control files are as signed: sign-ins work."""
    fresh_throttle(world)
    assert sign_in(browser(world), "bob").status_code == 303
    assert sign_in(browser(world), "alice").status_code == 303


def fresh_throttle(world) -> None:
    """Forget failed sign-ins (the module's tests share one server)."""
    world[1].state.throttle = Throttle(clock=world[1].state.throttle.clock)


@pytest.fixture(autouse=True)
def _throttle(world):
    fresh_throttle(world)  # one test's failed sign-ins do not throttle the next


@pytest.fixture(scope="module")
def alice(world):
    return signed_in(world, "alice")


# --- other roles on every route ------------------------------------------------------------


@pytest.mark.parametrize("user", sorted(OTHERS))
def test_other_roles_get_head_and_post_are_refused(world, user):
    c = signed_in(world, user)
    before = snapshot(world)
    for path in ADMIN_GETS:
        for method in ("GET", "HEAD"):
            r = c.request(method, path, follow_redirects=False)
            assert r.status_code == 403, (method, path, r.status_code)
    csrf = csrf_of(c.get("/account").text)
    for path, data in ADMIN_POSTS:
        r = c.post(path, data={"csrf": csrf, **data}, follow_redirects=False)
        no_trace(r)
        assert r.status_code == 403, (path, r.status_code)
    assert snapshot(world) == before
    assert "eve" not in users_of(world)


@pytest.mark.parametrize("user", ["bob", "aud"])
def test_other_roles_with_a_bearer_token_are_refused(world, user):
    bare = browser(world)
    headers = {"authorization": f"Bearer {token(world, user)}"}
    before = snapshot(world)
    for path in ADMIN_GETS:
        assert bare.get(path, headers=headers, follow_redirects=False).status_code == 403, path
    for path, data in ADMIN_POSTS:  # even with the token's CSRF in the header it is not an admin
        r = bare.post(path, data=data, headers=headers, follow_redirects=False)
        assert r.status_code == 403, path
    assert snapshot(world) == before


def test_no_signin_is_sent_to_the_signin_page(world):
    bare = browser(world)
    before = snapshot(world)
    for path in ADMIN_GETS:
        r = bare.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/signin", path
    for path, data in ADMIN_POSTS:
        r = bare.post(path, data=data, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/signin", path
    assert snapshot(world) == before


# --- forged posts ------------------------------------------------------------------------------


def test_every_admin_post_without_or_with_anothers_csrf_is_refused(world, alice):
    bob_csrf = csrf_of(signed_in(world, "bob").get("/account").text)
    before = snapshot(world)
    for path, data in ADMIN_POSTS:
        for csrf in (None, "", bob_csrf, "x" * 43):
            body = dict(data) if csrf is None else {"csrf": csrf, **data}
            r = alice.post(path, data=body, follow_redirects=False)
            assert r.status_code == 403, (path, csrf, r.status_code)
    assert snapshot(world) == before


def test_an_admin_bearer_token_without_the_csrf_header_changes_nothing(world):
    bare = browser(world)
    headers = {"authorization": f"Bearer {token(world, 'alice')}"}
    before = snapshot(world)
    for path, data in ADMIN_POSTS:
        assert bare.post(path, data=data, headers=headers).status_code == 403, path
    assert snapshot(world) == before


# --- the first sign-in with a one-time passphrase ----------------------------------------------


def one_timer(world, name: str, passphrase: str) -> None:
    accounts.add_user(world[0].login("alice"), name, ["business"], passphrase, one_time=True)


def test_a_first_signin_reaches_nothing_but_its_page(world):
    one_timer(world, "nova", "nova-once-123")
    c = browser(world)
    r = sign_in(c, "nova", "nova-once-123")
    assert r.status_code == 303 and r.headers["location"] == "/account/first-passphrase"
    first = c.cookies.get("am_first")
    assert first and not c.cookies.get("am_session")
    other = browser(world)
    for path in ["/search", "/account", "/clients", "/admin", "/paperwork", "/ledger", "/audit", "/upload"]:
        other.cookies.set("am_session", first)
        r = other.get(path, follow_redirects=False)
        assert r.status_code in (303, 404) and r.headers.get("location", "/signin") == "/signin", path
        r = other.get(path, headers={"authorization": f"Bearer {first}"}, follow_redirects=False)
        assert r.status_code in (303, 401, 404), path
        other.cookies.clear()
    for path in ["/api/v1/clients", "/api/v1/search?q=x", "/api/v1/clients/C001"]:
        assert other.get(path, headers={"authorization": f"Bearer {first}"}).status_code == 401, path
        other.cookies.set("am_session", first)
        assert other.get(path).status_code == 401, path
        other.cookies.clear()
    # the first sign-in's cookie sent to a post of the account page does not change the passphrase
    other.cookies.set("am_session", first)
    r = other.post("/account/passphrase", data={"csrf": "x", "current": "nova-once-123", "new": "mine-0123456",
                                     "again": "mine-0123456"}, follow_redirects=False)
    assert r.status_code in (303, 401, 403)
    other.cookies.clear()
    assert users_of(world)["nova"].passphrase_to_set
    # the API refuses a session outright, with the code
    r = other.post("/api/v1/session", json={"user": "nova", "passphrase": "nova-once-123"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "set-passphrase" and "token" not in r.json()


def test_the_first_passphrase_page_refuses_bad_posts(world):
    one_timer(world, "omar", "omar-once-123")
    c = browser(world)
    sign_in(c, "omar", "omar-once-123")
    page = c.get("/account/first-passphrase")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    csrf = csrf_of(page.text)
    keyring = users_of(world)["omar"].keyring
    for data, status in (({"new": "omar-own-12345", "again": "omar-own-12345"}, 403),  # no csrf
                         ({"csrf": "x" * 43, "new": "omar-own-12345", "again": "omar-own-12345"}, 403),
                         ({"csrf": csrf, "new": "", "again": ""}, 400),
                         ({"csrf": csrf, "new": "omar-own-12345", "again": "omar-own-12346"}, 400),
                         ({"csrf": csrf, "new": "omar-once-123", "again": "omar-once-123"}, 400),
                         ({"csrf": csrf, "new": "x" * 5000, "again": "x" * 5000}, 400),
                         ({"csrf": csrf, "new": "x" * 20000, "again": "x" * 20000}, 400)):
        r = c.post("/account/first-passphrase", data=data, follow_redirects=False)
        no_trace(r)
        assert r.status_code == status, (data.get("new", "")[:20], r.status_code)
    assert users_of(world)["omar"].keyring == keyring and users_of(world)["omar"].passphrase_to_set
    # another user's sign-in cookie does not open the page
    bob = signed_in(world, "bob")
    assert bob.get("/account/first-passphrase", follow_redirects=False).status_code == 303
    bob.cookies.set("am_first", bob.cookies.get("am_session"))
    assert bob.get("/account/first-passphrase", follow_redirects=False).status_code == 303


def test_the_one_time_signin_is_throttled(world):
    one_timer(world, "pia", "pia-once-1234")
    c = browser(world)
    codes = [sign_in(c, "pia", f"wrong-guess-{i}").status_code for i in range(8)]
    assert 429 in codes, codes
    assert sign_in(c, "pia", "pia-once-1234").status_code == 429  # the right one waits too


def test_a_second_first_signin_cannot_overwrite_the_users_own_passphrase(world):
    """Someone who saw the one-time passphrase signs in with it and keeps the
    page open; the user signs in too and sets their own passphrase. The
    first sign-in left open must not be able to set another one afterwards."""
    one_timer(world, "quinn", "quinn-once-12")
    spy, user = browser(world), browser(world)
    assert sign_in(spy, "quinn", "quinn-once-12").headers["location"] == "/account/first-passphrase"
    assert sign_in(user, "quinn", "quinn-once-12").headers["location"] == "/account/first-passphrase"
    spy_csrf = csrf_of(spy.get("/account/first-passphrase").text)
    r = user.post("/account/first-passphrase", data={"csrf": csrf_of(user.get("/account/first-passphrase").text),
                                                     "new": "quinn-own-pass", "again": "quinn-own-pass"},
                  follow_redirects=False)
    assert r.status_code == 303
    r = spy.post("/account/first-passphrase", data={"csrf": spy_csrf, "new": "spy-chosen-pass",
                                                    "again": "spy-chosen-pass"}, follow_redirects=False)
    assert sign_in(browser(world), "quinn", "spy-chosen-pass").status_code != 303, "the spy took the account"
    assert sign_in(browser(world), "quinn", "quinn-own-pass").status_code == 303
    assert r.status_code in (303, 400, 403, 409) and r.headers.get("location") != "/signin?done=passphrase"


def test_the_generated_passphrase_is_shown_once_and_never_stored(world, alice):
    csrf = csrf_of(alice.get("/admin/users").text)
    r = alice.post("/admin/users", data={"csrf": csrf, "user": "rita", "display_name": "丽塔",
                                         "departments": "business"})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    secret = re.search(r'class="admin-secret"><code>([^<]+)</code>', r.text).group(1)
    for path in ("/admin/users", "/admin/users/rita", "/admin", "/admin/users/rita/remove"):
        assert secret not in alice.get(path).text, path
    for f in world[0].root.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            assert secret.encode() not in data and secret.replace("-", "").encode() not in data, f
    assert all(secret not in repr(e) for e in world[0].reporter.events)
    assert users_of(world)["rita"].passphrase_to_set


def test_a_given_one_time_passphrase_is_never_echoed_nor_stored(world, alice):
    given = "Given-Once-Zq7-Secret"
    csrf = csrf_of(alice.get("/admin/users").text)
    for data in ({"user": "bob", "departments": "business"}, {"user": "wes"}, {"user": "Wes!", "departments": "legal"},
                 {"user": "wes", "departments": "nosuch"}):
        r = alice.post("/admin/users", data={"csrf": csrf, "passphrase": given, **data})
        assert r.status_code in (400, 404, 409) and given not in r.text, data
    r = alice.post("/admin/users", data={"csrf": csrf, "user": "wes", "departments": "legal", "passphrase": given})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert given not in alice.get("/admin/users/wes").text
    for f in world[0].root.rglob("*"):
        if f.is_file():
            assert given.encode() not in f.read_bytes(), f
    assert all(given not in repr(e) for e in world[0].reporter.events)


def test_a_spent_first_signin_cookie_opens_nothing(world):
    one_timer(world, "xena", "xena-once-123")
    c = browser(world)
    sign_in(c, "xena", "xena-once-123")
    cookie = c.cookies.get("am_first")
    r = c.post("/account/first-passphrase", data={"csrf": csrf_of(c.get("/account/first-passphrase").text),
                                                  "new": "xena-own-pass", "again": "xena-own-pass"},
               follow_redirects=False)
    assert r.status_code == 303
    again = browser(world)
    again.cookies.set("am_first", cookie, path="/account/first-passphrase")
    assert again.get("/account/first-passphrase", follow_redirects=False).status_code == 303
    r = again.post("/account/first-passphrase", data={"csrf": "x", "new": "other-pass-123", "again": "other-pass-123"},
                   follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/signin"
    assert again.head("/account/first-passphrase", follow_redirects=False).status_code in (303, 405)
    assert sign_in(browser(world), "xena", "xena-own-pass").status_code == 303


# --- markup in names and values ------------------------------------------------------------------


XSS = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'


def test_markup_in_a_display_name_is_escaped(world, alice):
    csrf = csrf_of(alice.get("/admin/users").text)
    r = alice.post("/admin/users", data={"csrf": csrf, "user": "sam", "display_name": XSS[:60],
                                         "departments": "business", "passphrase": "sam-given-123"})
    assert r.status_code == 200
    for path in ("/admin/users", "/admin/users/sam", "/admin/users/sam/remove"):
        text = alice.get(path).text
        assert "<script>alert" not in text and "<img src=x" not in text, path
    r = alice.post("/admin/users", data={"csrf": csrf, "user": '"><script>x</script>', "display_name": XSS[:60],
                                         "departments": "business"})
    assert r.status_code == 400 and "<script>x" not in r.text and "<script>alert" not in r.text
    r = alice.post("/admin/users/sam/name", data={"csrf": csrf, "display_name": "a\u202eb"})
    assert r.status_code == 400


def test_markup_in_the_policy_and_its_diff_is_escaped(world, alice):
    deps = world[0].home.settings.policies_dir / "departments.toml"
    before = deps.read_text(encoding="utf-8")
    deps.write_text(before.replace('name = "法务部"', f'name = "法务部{XSS.replace(chr(34), "")}"'), encoding="utf-8")
    try:
        page = alice.get("/admin/policy")
        assert page.status_code == 200 and "<script>alert" not in page.text and "<img src=x" not in page.text
        r = alice.post("/admin/policy", data={"csrf": csrf_of(page.text), "expect": hidden(page.text, "expect")})
        assert r.status_code == 200, r.text[:300]
        for path in ("/admin/policy", "/admin/users", "/admin/users/bob"):
            text = alice.get(path).text
            assert "<script>alert" not in text and "<img src=x" not in text, path
    finally:
        deps.write_text(before, encoding="utf-8")
        page = alice.get("/admin/policy")
        assert alice.post("/admin/policy", data={"csrf": csrf_of(page.text),
                                                 "expect": hidden(page.text, "expect")}).status_code == 200
    everyone_can_sign_in(world)


def test_markup_in_the_letterhead_is_escaped(world, alice):
    page = alice.get("/admin/letterhead")
    values = {"f_name": XSS, "f_address": "北京"}
    preview = alice.post("/admin/letterhead", data={"csrf": csrf_of(page.text), **values})
    assert preview.status_code == 200 and "<script>alert" not in preview.text and "<img src=x" not in preview.text
    r = alice.post("/admin/letterhead/sign", data={"csrf": csrf_of(page.text), **values,
                                                   "expect": hidden(preview.text, "expect")})
    assert r.status_code == 200 and "<script>alert" not in r.text
    assert "<script>alert" not in alice.get("/admin/letterhead").text
    assert world[0].login("alice").policy.company["name"] == XSS
    everyone_can_sign_in(world)


# --- the letterhead file -------------------------------------------------------------------------


@pytest.mark.parametrize("values", [
    {"f_name": 'x"\n[evil]\nk = "v'},
    {"f_name": 'x"\r\nphone = "1'},
    {"f_name": "a\tb"},
    {"f_name": "a\x00b"},
    {"f_name": "a\x7fb"},
    {"f_name": "a\u2028b"},
    {"f_name": "a\u200bb"},
    {"f_name": "x" * 201},
    {"f_evil]\n[x": "1"},
    {"f_Name": "1"},
    {"f_": "1"},
    {"f_a" + "b" * 40: "1"},
    {**{f"f_k{i}": "1" for i in range(31)}},
])
def test_letterhead_values_cannot_break_or_inject_into_company_toml(world, alice, values):
    before = company_file(world).read_text(encoding="utf-8") if company_file(world).exists() else None
    page = alice.get("/admin/letterhead")
    for path in ("/admin/letterhead", "/admin/letterhead/sign"):
        r = alice.post(path, data={"csrf": csrf_of(page.text), **values, "expect": "-"})
        no_trace(r)
        assert r.status_code == 400, (path, r.status_code)
    after = company_file(world).read_text(encoding="utf-8") if company_file(world).exists() else None
    assert after == before
    everyone_can_sign_in(world)


def test_quotes_and_backslashes_stay_one_value(world, alice):
    value = 'A "quoted" \\ back\\slash \\n not a newline \' single = [x]'
    page = alice.get("/admin/letterhead")
    preview = alice.post("/admin/letterhead", data={"csrf": csrf_of(page.text), "f_name": value, "f_bank": "#x"})
    assert preview.status_code == 200
    r = alice.post("/admin/letterhead/sign", data={"csrf": csrf_of(page.text), "f_name": value, "f_bank": "#x",
                                                   "expect": hidden(preview.text, "expect")})
    assert r.status_code == 200
    company = world[0].login("alice").policy.company
    assert company == {"name": value, "bank": "#x"}
    everyone_can_sign_in(world)


def test_too_many_form_fields_or_a_huge_field_is_a_clean_400(world, alice):
    csrf = csrf_of(alice.get("/admin/letterhead").text)
    r = alice.post("/admin/letterhead", data={"csrf": csrf, **{f"f_k{i}": "1" for i in range(100)}})
    no_trace(r)
    assert r.status_code == 400
    r = alice.post("/admin/letterhead", data={"csrf": csrf, "f_name": "x" * 100_000})
    no_trace(r)
    assert r.status_code in (400, 413)


def test_two_admins_signing_letterheads_at_once_leave_a_consistent_policy(world, monkeypatch):
    """alice and root2 each preview then sign a letterhead; root2's write lands
    between alice's write and alice's sync. One of them may be refused, but the
    policy files must end up what is signed (else nobody can sign in). In one
    server the letterhead is signed one at a time; root2 is another process
    here (the CLI), which shares no lock with alice's server."""
    import contextlib

    monkeypatch.setattr(accounts, "_LETTERHEAD", contextlib.nullcontext())
    a, b = world[0].login("alice"), world[0].login("root2")
    va, vb = {"name": "甲公司"}, {"name": "乙公司"}
    ea, eb = accounts.diff_digest(accounts.letterhead_diff(a, va)), \
        accounts.diff_digest(accounts.letterhead_diff(b, vb))
    real = accounts.sync_policy
    once = []

    def interleaved(session, expect=None):
        if not once:
            once.append(1)
            t = threading.Thread(target=lambda: once.append(_try(lambda: accounts.set_letterhead(b, vb, eb))))
            t.start()
            t.join()
        return real(session, expect)

    monkeypatch.setattr(accounts, "sync_policy", interleaved)
    outcome_a = _try(lambda: accounts.set_letterhead(a, va, ea))
    monkeypatch.setattr(accounts, "sync_policy", real)
    signed = world[0].login("alice", check_policy_files=False)
    diff = accounts.policy_diff(signed)
    bob = sign_in(browser(world), "bob").status_code
    company_file(world).write_text(signed.signed_policy.files["company.toml"], encoding="utf-8")  # for what follows
    assert diff == [], f"company.toml left unlike the signed letterhead (bob's sign-in: {bob}; alice: {outcome_a!r})"
    everyone_can_sign_in(world)


def test_two_admins_syncing_the_policy_at_once_leave_it_consistent(world):
    deps = world[0].home.settings.policies_dir / "departments.toml"
    before = deps.read_text(encoding="utf-8")
    deps.write_text(before.replace('name = "管理层"', 'name = "管理层（总）"'), encoding="utf-8")
    try:
        a = world[0].login("alice", check_policy_files=False)
        b = world[0].login("root2", check_policy_files=False)
        expect = accounts.diff_digest(accounts.policy_diff(a))
        out: list = []
        threads = [threading.Thread(target=lambda s=s: out.append(_try(lambda: accounts.sync_policy(s, expect))))
                   for s in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert any(not isinstance(o, Exception) for o in out), out
        assert accounts.policy_diff(world[0].login("alice")) == []
    finally:
        deps.write_text(before, encoding="utf-8")
        accounts.sync_policy(world[0].login("alice", check_policy_files=False))
    everyone_can_sign_in(world)


def _try(f):
    try:
        return f()
    except Exception as exc:  # noqa: BLE001
        return exc


# --- users: the last admin, the archive department ---------------------------------------------------


def test_an_admin_cannot_remove_themself_nor_drop_or_gain_admin(world, alice):
    page = alice.get("/admin/users/alice/remove")
    r = alice.post("/admin/users/alice/remove", data={"csrf": csrf_of(page.text)})
    no_trace(r)
    assert r.status_code == 400 and users_of(world)["alice"].active
    csrf = csrf_of(page.text)
    for name, depts in (("alice", ["legal"]), ("root2", ["business"]), ("bob", ["legal", "archive"]),
                        ("alice", []), ("bob", ["nosuch"]), ("bob", ["<script>"])):
        r = alice.post(f"/admin/users/{name}/departments", data={"csrf": csrf, "departments": depts})
        no_trace(r)
        assert r.status_code in (400, 404) and "<script>" not in r.text.replace("&lt;script&gt;", ""), (name, depts)
    assert users_of(world)["alice"].admin and users_of(world)["root2"].admin and not users_of(world)["bob"].admin


@pytest.mark.parametrize("name", ["..%2F..%2Fetc", "ALICE", "a" * 300, "%00", "bob%0a"])
def test_odd_user_names_in_paths(world, alice, name):
    csrf = csrf_of(alice.get("/admin/users").text)
    for r in (alice.get(f"/admin/users/{name}"), alice.get(f"/admin/users/{name}/remove"),
              alice.post(f"/admin/users/{name}/remove", data={"csrf": csrf}),
              alice.post(f"/admin/users/{name}/name", data={"csrf": csrf, "display_name": "x"})):
        no_trace(r)
        assert r.status_code in (400, 404), (name, r.status_code)


# --- the policy's signed sync ------------------------------------------------------------------------


def test_the_policy_sign_signs_only_what_was_shown(world, alice):
    types = world[0].home.settings.policies_dir / "departments.toml"
    before = types.read_text(encoding="utf-8")
    try:
        empty = alice.get("/admin/policy")  # nothing to sign: no expect shown
        types.write_text(before.replace('name = "市场部"', 'name = "市场部门"'), encoding="utf-8")
        seq = world[0].home.vault().paths.policy_json.read_bytes()
        for expect in ("", "-", accounts.diff_digest([]), "0" * 64):
            r = alice.post("/admin/policy", data={"csrf": csrf_of(empty.text), "expect": expect})
            assert r.status_code == 409, (expect, r.status_code)
        shown = alice.get("/admin/policy")
        types.write_text(before.replace('name = "市场部"', 'name = "市场部（改）"'), encoding="utf-8")
        r = alice.post("/admin/policy", data={"csrf": csrf_of(shown.text), "expect": hidden(shown.text, "expect")})
        assert r.status_code == 409
        assert world[0].home.vault().paths.policy_json.read_bytes() == seq
    finally:
        types.write_text(before, encoding="utf-8")
    everyone_can_sign_in(world)


# --- a file writer and the one-time mark ----------------------------------------------------------


def _edit_users_json(world, change) -> bytes:
    path = world[0].home.vault().paths.users_json
    old = path.read_bytes()
    data = json.loads(old)
    change(data["users"])
    path.write_bytes(json.dumps(data).encode())
    return old


def _restore(world, old: bytes) -> None:
    world[0].home.vault().paths.users_json.write_bytes(old)


def test_a_file_writer_cannot_add_the_one_time_mark(world):
    def mark(users):
        users["bob"]["one_time"] = keyring_digest(users["bob"]["keyring"])
    old = _edit_users_json(world, mark)
    try:
        r = sign_in(browser(world), "bob")
        assert r.status_code != 303 or r.headers["location"] != "/account/first-passphrase"
        assert r.status_code != 303
    finally:
        _restore(world, old)
    everyone_can_sign_in(world)


def test_a_file_writer_cannot_remove_the_one_time_mark(world):
    one_timer(world, "tess", "tess-once-123")
    old = _edit_users_json(world, lambda users: users["tess"].pop("one_time"))
    try:
        assert sign_in(browser(world), "tess", "tess-once-123").status_code != 303
        r = browser(world).post("/api/v1/session", json={"user": "tess", "passphrase": "tess-once-123"})
        assert r.status_code != 201
        with pytest.raises(Exception):
            world[0].login("tess", "tess-once-123")
    finally:
        _restore(world, old)
    everyone_can_sign_in(world)


def _spent_one_time(world, name: str, once: str, own: str) -> tuple[dict, bytes]:
    """``name`` added with ``once``, who then set ``own`` on the page: the
    keyring and users.json of before the change (a file writer's backup)."""
    one_timer(world, name, once)
    path = world[0].home.vault().paths.users_json
    old_keyring, old_file = json.loads(path.read_bytes())["users"][name]["keyring"], path.read_bytes()
    c = browser(world)
    sign_in(c, name, once)
    r = c.post("/account/first-passphrase", data={"csrf": csrf_of(c.get("/account/first-passphrase").text),
                                                  "new": own, "again": own}, follow_redirects=False)
    assert r.status_code == 303 and not users_of(world)[name].passphrase_to_set
    return old_keyring, old_file


def test_a_restored_keyring_does_not_revive_the_one_time_passphrase_on_the_server(world):
    old_keyring, old_file = _spent_one_time(world, "uma", "uma-once-1234", "uma-own-pass1")
    path = world[0].home.vault().paths.users_json
    for how in ("keyring", "file"):
        if how == "keyring":
            current = _edit_users_json(world, lambda users: users["uma"].update(keyring=old_keyring))
        else:
            current = path.read_bytes()
            path.write_bytes(old_file)
        try:
            fresh_throttle(world)
            r = sign_in(browser(world), "uma", "uma-once-1234")
            assert r.status_code != 303, (how, r.headers.get("location"))
            assert browser(world).post("/api/v1/session", json={"user": "uma", "passphrase": "uma-once-1234"}
                                       ).status_code in (400, 401, 403, 409)
        finally:
            path.write_bytes(current)
    assert sign_in(browser(world), "uma", "uma-own-pass1").status_code == 303
    everyone_can_sign_in(world)


@pytest.mark.parametrize("how", ["keyring", "file"])
def test_a_restored_keyring_does_not_let_the_one_time_passphrase_set_a_new_one(world, how):
    """The CLI's ``user passwd`` (home.login with passphrase_change, then
    change_passphrase): a file writer puts back the keyring locked with the
    one-time passphrase; whoever knows that passphrase (the administrator who
    gave it, anyone who saw the note) must not get to choose a new one."""
    name = f"vic{how[0]}"
    old_keyring, old_file = _spent_one_time(world, name, f"{name}-once-1234", f"{name}-own-pass1")
    path = world[0].home.vault().paths.users_json
    current = path.read_bytes()
    if how == "keyring":
        _edit_users_json(world, lambda users: users[name].update(keyring=old_keyring))
    else:
        path.write_bytes(old_file)
    taken = None
    try:
        session = world[0].login(name, f"{name}-once-1234", passphrase_change=True)
        accounts.change_passphrase(session, "taken-over-123")
        taken = sign_in(browser(world), name, "taken-over-123").status_code
    except Exception:  # noqa: BLE001  (refused: as it should be)
        path.write_bytes(current)
    everyone_can_sign_in(world)
    assert taken is None, f"the one-time passphrase set a new one after the keyring was put back (the server " \
                          f"then answers {taken} to a sign-in with it)"
