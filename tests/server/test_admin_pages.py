"""The admin desk's pages (users, policy, letterhead, the landing page) and a
user's first sign-in with a one-time passphrase, through the web and the API."""

from __future__ import annotations

import json
import re

import pytest

from archive_manager import accounts
from tests.server.conftest import api_sign_in, page_sign_in


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def hidden(html: str, name: str) -> str:
    return re.search(rf'name="{name}" value="([^"]*)"', html).group(1)


def events(archive, action: str) -> list:
    return [e for e in archive.reporter.events if e.action == action]


@pytest.fixture
def admin(client):
    assert page_sign_in(client, "alice").status_code == 303
    return client


# --- the landing page and who may see the desk ------------------------------------


def test_landing_links_every_admin_page(admin):
    r = admin.get("/admin")
    assert r.status_code == 200
    for href in ("/admin/users", "/admin/policy", "/admin/letterhead", "/admin/inbox", "/admin/health"):
        assert f'href="{href}"' in r.text
    assert "管理" in r.text and "用户" in r.text and "公司信头" in r.text
    assert "Letterhead" in admin.get("/admin?lang=en").text


@pytest.mark.parametrize("path", ["/admin", "/admin/users", "/admin/users/bob", "/admin/users/bob/remove",
                                  "/admin/policy", "/admin/letterhead"])
def test_others_get_403_and_the_refusal_is_recorded(client, archive, path):
    page_sign_in(client, "bob")
    before = len([e for e in archive.reporter.events if e.outcome == "denied"])
    r = client.get(path)
    assert r.status_code == 403 and "只有管理员" in r.text
    denied = [e for e in archive.reporter.events if e.outcome == "denied"]
    assert len(denied) == before + 1 and denied[-1].user == "bob"


def test_others_cannot_post_either(client, archive):
    page_sign_in(client, "carol")
    csrf = csrf_of(client.get("/account").text)
    for path, data in (("/admin/users", {"user": "eve", "departments": "credit"}),
                       ("/admin/users/bob/remove", {}), ("/admin/users/bob/departments", {"departments": "credit"}),
                       ("/admin/policy", {"expect": "x"}), ("/admin/letterhead/sign", {"f_name": "冒名", "expect": "x"})):
        r = client.post(path, data={"csrf": csrf, **data})
        assert r.status_code == 403, path
    assert "eve" not in archive.home.vault().users().users
    assert archive.home.vault().users().users["bob"].active
    assert [e.action for e in archive.reporter.events if e.outcome == "denied"][-5:] == [
        "user-add", "user-remove", "user-departments", "policy-sync", "letterhead-set"]


def test_a_post_without_the_csrf_token_is_refused(admin, archive):
    r = admin.post("/admin/users", data={"user": "eve", "departments": "credit"})
    assert r.status_code == 403
    assert "eve" not in archive.home.vault().users().users


# --- users ---------------------------------------------------------------------------


def test_users_list(admin):
    r = admin.get("/admin/users")
    assert r.status_code == 200
    for text in ("alice", "bob", "carol", "法务部", "信用管理部"):
        assert text in r.text, text
    fp = accounts.list_users(admin.app.state.home.login("alice", "alice-pw"))[1].fingerprint
    assert fp in r.text


def test_add_a_user_with_a_generated_one_time_passphrase(admin, archive):
    csrf = csrf_of(admin.get("/admin/users").text)
    r = admin.post("/admin/users", data={"csrf": csrf, "user": "erin", "display_name": "赵敏",
                                         "departments": ["business", "marketing"]})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    passphrase = re.search(r'class="admin-secret"><code>([^<]+)</code>', r.text).group(1)
    assert re.fullmatch(r"[a-z2-9]{4}(-[a-z2-9]{4}){3}", passphrase)
    rec = archive.home.vault().users().users["erin"]
    assert rec.departments == ("business", "marketing") and rec.display_name == "赵敏" and rec.passphrase_to_set
    assert "待设置口令" in admin.get("/admin/users").text
    assert passphrase not in admin.get("/admin/users").text  # shown once
    [added] = events(archive, "user-add")[-1:]
    assert added.objects["one_time"] is True


def test_add_refuses_bad_input_with_the_form_again(admin, archive):
    csrf = csrf_of(admin.get("/admin/users").text)
    r = admin.post("/admin/users", data={"csrf": csrf, "user": "Erin!", "departments": "business"})
    assert r.status_code == 400 and "invalid user name" in r.text and 'value="Erin!"' in r.text
    r = admin.post("/admin/users", data={"csrf": csrf, "user": "erin"})
    assert r.status_code == 400 and "at least one department" in r.text
    r = admin.post("/admin/users", data={"csrf": csrf, "user": "erin", "departments": "business",
                                         "passphrase": "short"})
    assert r.status_code == 400 and "at least 10 characters" in r.text
    r = admin.post("/admin/users", data={"csrf": csrf, "user": "bob", "departments": "business"})
    assert r.status_code == 409 and "already exists" in r.text
    assert "erin" not in archive.home.vault().users().users


def test_edit_display_name_and_departments(admin, archive):
    page = admin.get("/admin/users/bob")
    assert page.status_code == 200 and "法务部" in page.text
    csrf = csrf_of(page.text)
    r = admin.post("/admin/users/bob/name", data={"csrf": csrf, "display_name": "李四"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin/users/bob?done=name"
    assert archive.home.vault().users().users["bob"].display_name == "李四"
    r = admin.post("/admin/users/bob/departments", data={"csrf": csrf, "departments": ["legal", "credit"]})
    assert r.status_code == 200 and "credit:bob" in r.text
    assert archive.home.vault().users().users["bob"].departments == ("legal", "credit")
    assert "credit" in archive.login("bob").classes_for("read")
    r = admin.post("/admin/users/bob/departments", data={"csrf": csrf, "departments": ["legal"]})
    assert r.status_code == 200 and "credit" in r.text  # rotated away from bob
    assert archive.home.vault().users().users["bob"].departments == ("legal",)
    r = admin.post("/admin/users/bob/departments", data={"csrf": csrf, "departments": ["archive", "legal"]})
    assert r.status_code == 400 and "not changed here" in r.text
    assert [e.action for e in archive.reporter.events if e.action in ("user-edit", "user-departments")] == [
        "user-edit", "user-departments", "user-departments", "user-departments"]


def test_remove_asks_first_then_rotates(admin, archive):
    page = admin.get("/admin/users/carol/remove")
    assert page.status_code == 200 and "确认删除用户 carol" in page.text
    assert archive.home.vault().users().users["carol"].active  # asking removes nothing
    r = admin.post("/admin/users/carol/remove", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 200 and "已删除 carol" in r.text and "credit" in r.text
    assert not archive.home.vault().users().users["carol"].active
    assert events(archive, "user-remove")[-1].outcome == "ok"


def test_an_unknown_user_is_404(admin):
    assert admin.get("/admin/users/nobody").status_code == 404


# --- the policy ----------------------------------------------------------------------


def test_policy_tables_and_no_change(admin):
    r = admin.get("/admin/policy")
    assert r.status_code == 200
    for text in ("访问类别", "合同", "授权", "法务部", "准入审批步骤", "没有改动"):
        assert text in r.text, text
    assert 'action="/admin/policy"' not in r.text  # nothing to sign


def test_policy_diff_before_signing_then_sign(admin, archive):
    grants = archive.home.settings.policies_dir / "grants.toml"
    grants.write_text(grants.read_text(encoding="utf-8").replace(
        '[legal]\nclasses = [', '[legal]\nclasses = ["communication", ', 1), encoding="utf-8")
    page = admin.get("/admin/policy")
    assert page.status_code == 200 and "signed/policies/grants.toml" in page.text and 'class="add"' in page.text
    r = admin.post("/admin/policy", data={"csrf": csrf_of(page.text), "expect": hidden(page.text, "expect")})
    assert r.status_code == 200 and "已签名策略" in r.text and "communication:bob" in r.text
    assert "没有改动" in r.text
    assert events(archive, "policy-sync")[-1].outcome == "ok"


def test_sign_refuses_what_was_not_shown(admin, archive):
    departments = archive.home.settings.policies_dir / "departments.toml"
    departments.write_text(departments.read_text(encoding="utf-8") + '\n[pr]\nname = "公关部"\n', encoding="utf-8")
    page = admin.get("/admin/policy")
    types = archive.home.settings.policies_dir / "types.toml"
    types.write_text(types.read_text(encoding="utf-8") + '\n[memo]\nname = "备忘录"\n', encoding="utf-8")
    r = admin.post("/admin/policy", data={"csrf": csrf_of(page.text), "expect": hidden(page.text, "expect")})
    assert r.status_code == 409 and "changed since you looked" in r.text


def test_an_invalid_policy_is_refused_with_400(admin, archive):
    types = archive.home.settings.policies_dir / "types.toml"
    types.write_text(types.read_text(encoding="utf-8") + '\n[memo]\nname = "备忘录"\n', encoding="utf-8")
    page = admin.get("/admin/policy")
    assert "memo" in page.text
    seq = archive.home.vault().paths.policy_json.read_bytes()
    r = admin.post("/admin/policy", data={"csrf": csrf_of(page.text), "expect": hidden(page.text, "expect")})
    assert r.status_code == 400 and "type is in no class" in r.text
    assert archive.home.vault().paths.policy_json.read_bytes() == seq


# --- the letterhead ------------------------------------------------------------------


def test_letterhead_preview_then_sign(admin, archive):
    page = admin.get("/admin/letterhead")
    assert page.status_code == 200 and "公司名称" in page.text
    company = archive.home.settings.policies_dir / "company.toml"
    before = company.read_text(encoding="utf-8")
    values = {"f_name": "北京示例广告有限公司", "f_address": "北京市朝阳区建国路1号", "f_phone": "010-12345678",
              "f_bank": "中国工商银行北京分行", "f_account": "0200001234567"}
    preview = admin.post("/admin/letterhead", data={"csrf": csrf_of(page.text), **values})
    assert preview.status_code == 200 and "+account = &#34;0200001234567&#34;" in preview.text
    assert company.read_text(encoding="utf-8") == before  # nothing written before signing
    r = admin.post("/admin/letterhead/sign", data={"csrf": csrf_of(preview.text), **values,
                                                   "expect": hidden(preview.text, "expect")})
    assert r.status_code == 200 and "已签名策略" in r.text
    alice = archive.login("alice")
    assert alice.policy.company["account"] == "0200001234567"
    assert accounts.policy_diff(alice) == []


def test_letterhead_refuses_a_control_character(admin, archive):
    page = admin.get("/admin/letterhead")
    r = admin.post("/admin/letterhead", data={"csrf": csrf_of(page.text), "f_account": "0200\u202e1234"})
    assert r.status_code == 400 and "control or format character" in r.text
    r = admin.post("/admin/letterhead/sign", data={"csrf": csrf_of(page.text), "f_account": "0200\u202e1234",
                                                   "expect": "x"})
    assert r.status_code == 400
    assert "1234" not in (archive.home.settings.policies_dir / "company.toml").read_text(encoding="utf-8")


def test_letterhead_sign_refuses_a_changed_file(admin, archive):
    page = admin.get("/admin/letterhead")
    preview = admin.post("/admin/letterhead", data={"csrf": csrf_of(page.text), "f_name": "甲公司"})
    company = archive.home.settings.policies_dir / "company.toml"
    before = company.read_text(encoding="utf-8")
    r = admin.post("/admin/letterhead/sign", data={"csrf": csrf_of(page.text), "f_name": "乙公司",
                                                   "expect": hidden(preview.text, "expect")})
    assert r.status_code == 409
    assert company.read_text(encoding="utf-8") == before  # put back as it was
    assert archive.login("alice").policy.company == {}


# --- a first sign-in with a one-time passphrase -----------------------------------------


@pytest.fixture
def newcomer(archive):
    accounts.add_user(archive.login("alice"), "erin", ["business"], "given-once-1", one_time=True)
    return archive


def test_first_signin_sets_own_passphrase_before_anything_else(client, newcomer):
    r = page_sign_in(client, "erin", "given-once-1")
    assert r.status_code == 303 and r.headers["location"] == "/account/first-passphrase"
    # nothing else knows this sign-in
    assert client.get("/search", follow_redirects=False).headers["location"] == "/signin"
    assert client.get("/api/v1/clients").status_code == 401
    page = client.get("/account/first-passphrase")
    assert page.status_code == 200 and "设置您自己的口令" in page.text
    csrf = csrf_of(page.text)
    r = client.post("/account/first-passphrase", data={"csrf": csrf, "new": "short", "again": "short"})
    assert r.status_code == 400
    r = client.post("/account/first-passphrase", data={"csrf": csrf, "new": "given-once-1", "again": "given-once-1"})
    assert r.status_code == 400 and "one-time passphrase" in r.text
    r = client.post("/account/first-passphrase", data={"csrf": csrf, "new": "erin-own-passphrase",
                                                       "again": "erin-own-passphrase"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/signin?done=passphrase"
    assert "口令已设置" in client.get("/signin?done=passphrase").text
    assert not newcomer.home.vault().users().users["erin"].passphrase_to_set
    assert page_sign_in(client, "erin", "given-once-1").status_code == 401
    r = page_sign_in(client, "erin", "erin-own-passphrase")
    assert r.status_code == 303 and r.headers["location"] == "/search"
    assert [(e.action, e.outcome) for e in newcomer.reporter.events if e.user == "erin"][:3] == [
        ("login", "ok"), ("user-passwd", "error"), ("user-passwd", "ok")]


def test_api_answers_403_with_a_code(client, newcomer):
    r = client.post("/api/v1/session", json={"user": "erin", "passphrase": "given-once-1"})
    assert r.status_code == 403
    error = r.json()["error"]
    assert error["code"] == "set-passphrase" and "set your own passphrase" in error["message"]
    assert "token" not in r.json()
    assert [(e.action, e.outcome, e.reason) for e in newcomer.reporter.events if e.user == "erin"][-1] == (
        "login", "error", "access denied")  # refused after the keyring unlocked: signed by erin
    r = client.post("/api/v1/session", json={"user": "erin", "passphrase": "wrong-passphrase"})
    assert r.status_code == 401 and "code" not in r.json()["error"]


def test_the_api_cannot_use_a_first_signin_cookie(client, newcomer):
    page_sign_in(client, "erin", "given-once-1")
    cookie = client.cookies.get("am_first")
    assert cookie
    r = client.get("/api/v1/clients", headers={"authorization": f"Bearer {cookie}"})
    assert r.status_code == 401
    headers = api_sign_in(client, "bob")  # others are untouched
    assert client.get("/api/v1/clients", headers=headers).status_code == 200
