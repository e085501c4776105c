"""The paperwork pages (issue 19.1) over HTTP: the template list, each
template's form, preview (text: LibreOffice is left out here but in one test),
generation filed back with its sources, downloads by the export right, the
amendment's draft and its approval, refusals, and bad input with its status.

One archive for the module: alice (admin), bob and lily (legal), carol
(credit), mike (marketing: no generate), nora (a paralegal department: may
generate amendments, may not export); clients C001 and C002, each with a
contract; C001 with overdue invoices; the full letterhead signed."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from archive_manager import accounts, clients, filing, paperwork, receivables
from archive_manager.errors import UsageError
from archive_manager.generation import pdf as pdfs
from archive_manager.server.app import create_app
from archive_manager.server.web import ServerSettings
from tests.conftest import COMPANY, Archive, open_home, sign_letterhead

FULL_COMPANY = COMPANY + 'bank = "中国工商银行北京朝阳支行"\naccount = "0200 0000 0000 0000 000"\n'
CHANGES = {"l:changes:0:clause": "第三条 合同金额", "l:changes:0:original": "人民币 480,000 元",
           "l:changes:0:new": "人民币 520,000 元"}
PARALEGAL = ('\n[paralegal]\nname = "法务助理"\n',
             '\n[paralegal]\nclasses = ["basic", "contract"]\nactions = ["file", "read", "search", "generate"]\n')


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def build(root) -> tuple[Archive, dict]:
    home = open_home(root)
    home.init("alice", "alice-pw")
    arch = Archive(root, home, home.reporter)
    alice = arch.login("alice")
    policies = home.settings.policies_dir
    for name, extra in zip(("departments.toml", "grants.toml"), PARALEGAL):
        path = policies / name
        path.write_text(path.read_text(encoding="utf-8") + extra, encoding="utf-8")
    sign_letterhead(arch, FULL_COMPANY)
    alice = arch.login("alice")
    for user, depts in (("bob", ["legal"]), ("lily", ["legal"]), ("carol", ["credit"]), ("mike", ["marketing"]),
                        ("nora", ["paralegal"])):
        accounts.add_user(alice, user, depts, f"{user}-pw")
    clients.add_client(alice, "C001", "北京星辰传媒有限公司", {"legal_rep": "张伟"})
    clients.add_client(alice, "C002", "上海云海广告有限公司", {"legal_rep": "李娜"})
    docs = {}
    bob = arch.login("bob")
    for code, number in (("C001", "HT-2026-001"), ("C002", "HT-2026-002")):
        src = root.parent / f"{code}-contract.txt"
        src.write_text(f"广告发布合同 {number}", encoding="utf-8")
        docs[code] = filing.file_document(bob, src, code, "contract", title="广告发布合同", date="2026-03-01",
                                          number=number).doc_id
    carol = arch.login("carol")
    receivables.add_invoice(carol, "C001", "INV-0042", "128000.00", "2026-01-31")
    receivables.add_invoice(carol, "C001", "INV-0043", "16409.02", "2026-02-20")
    return arch, docs


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("ARCHIVE_KDF_PROFILE", "test")
    root = tmp_path_factory.mktemp("paperwork") / "home"
    root.mkdir()
    arch, docs = build(root)
    yield arch, docs, create_app(arch.home, ServerSettings(), clock=Clock(), failed_delay=0.0)
    mp.undo()


@pytest.fixture(autouse=True)
def no_libreoffice(monkeypatch):
    """LibreOffice is slow: left out (the text preview) but in the test that asks for it."""
    monkeypatch.setattr(pdfs, "soffice", lambda *a: None)


class User:
    """A browser of one user: a TestClient signed in, with the page's CSRF token."""

    def __init__(self, app, name: str) -> None:
        self.client = TestClient(app, base_url="https://testserver")
        form = self.client.get("/signin")
        csrf = form.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        r = self.client.post("/signin", data={"user": name, "passphrase": f"{name}-pw", "csrf": csrf},
                             follow_redirects=False)
        assert r.status_code == 303, r.text
        self.csrf = self.client.get("/account").text.split('name="csrf" value="', 1)[1].split('"', 1)[0]

    def get(self, url: str, **kw):
        return self.client.get(url, **kw)

    def post(self, url: str, data: dict, csrf: bool = True):
        return self.client.post(url, data={**({"csrf": self.csrf} if csrf else {}), **data}, follow_redirects=False)


@pytest.fixture(scope="module")
def users(world):
    _, _, app = world
    made: dict[str, User] = {}

    def get(name: str) -> User:
        if name not in made:
            made[name] = User(app, name)
        return made[name]

    yield get
    for u in made.values():
        u.client.close()


def main(html: str) -> str:
    """The page's main text, tags dropped."""
    body = html.split("<main>", 1)[1].split("</main>", 1)[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


def events(world, action: str) -> list:
    return [e for e in world[0].reporter.events if e.action == action]


def amendment(docs, client="C001", **extra) -> dict:
    return {"client": client, "contract": docs[client], "v:effective": "2026-12-01", **CHANGES, **extra}


# --- the list and the forms ---------------------------------------------------------------


def test_the_list_shows_each_template_and_what_the_user_may_make(users):
    r = users("bob").get("/paperwork")
    assert r.status_code == 200
    text = main(r.text)
    assert "合同变更协议" in text and "催款函" in text and "客户准入申请表" in text
    assert 'href="/paperwork/contract-amendment"' in r.text
    assert 'href="/paperwork/dunning-letter"' not in r.text and "缺少权限：读取“信用信息”" in text  # legal: no ledger
    carol = users("carol").get("/paperwork")
    assert 'href="/paperwork/dunning-letter"' in carol.text and 'href="/paperwork/contract-amendment"' not in carol.text
    assert 'href="/paperwork"' in carol.text  # in the navigation


def test_a_role_without_generate_is_refused_and_it_is_recorded(world, users):
    mike = users("mike")
    assert 'href="/paperwork"' not in mike.get("/search").text
    for url in ("/paperwork", "/paperwork/dunning-letter"):
        r = mike.get(url)
        assert r.status_code == 403 and "没有制作文书的权限" in main(r.text)
    r = mike.post("/paperwork/dunning-letter", {"client": "C001", "do": "generate"})
    assert r.status_code == 403
    denied = [e for e in events(world, "generate") if e.user == "mike"]
    assert len(denied) == 3 and {e.outcome for e in denied} == {"denied"}
    # a template whose sources the user may not read: refused too, and recorded
    r = users("carol").get("/paperwork/contract-amendment")
    assert r.status_code == 403 and "read contract" in main(r.text)
    assert events(world, "generate")[-1].outcome == "denied" and events(world, "generate")[-1].user == "carol"


def test_the_amendment_form_has_the_contract_picker_and_the_changes_table(world, users):
    _, docs, _ = world
    r = users("bob").get("/paperwork/contract-amendment")
    assert r.status_code == 200
    assert 'select name="contract"' in r.text and f'value="{docs["C001"]}" data-client="C001"' in r.text
    assert f'value="{docs["C002"]}" data-client="C002"' in r.text
    assert 'name="l:changes:0:clause"' in r.text and 'name="l:changes:2:new"' in r.text  # three rows without script
    assert 'type="date" name="v:effective"' in r.text and 'name="v:extra_terms"' in r.text
    assert 'button type="button" class="secondary add-row"' in r.text and "/static/paperwork.js" in r.text
    assert 'name="level"' not in r.text


def test_the_dunning_form_has_an_optional_level_and_no_given_values(users):
    r = users("carol").get("/paperwork/dunning-letter")
    assert r.status_code == 200 and 'select name="level"' in r.text and "自动" in main(r.text)
    assert 'name="contract"' not in r.text and 'name="v:' not in r.text
    assert 'value="C001"' in r.text and 'value="C002"' in r.text


def test_the_admission_form_has_money_inputs_with_their_upper_case(users):
    r = users("carol").get("/paperwork/admission-form")
    assert r.status_code == 200
    assert 'name="v:budget"' in r.text and 'data-upper-of="v:budget"' in r.text
    assert 'name="v:credit.limit"' in r.text and 'data-upper-of="v:credit.limit"' in r.text
    assert '<textarea name="v:business.need"' in r.text


def test_english(users):
    r = users("carol").get("/paperwork/dunning-letter?lang=en")
    assert "Dunning level" in r.text and "Generate and file" in r.text
    users("carol").get("/paperwork?lang=zh")


# --- preview --------------------------------------------------------------------------------


def test_a_preview_shows_the_text_and_files_nothing(world, users):
    arch, docs, _ = world
    before = len(events(world, "file"))
    r = users("bob").post("/paperwork/contract-amendment", {**amendment(docs), "do": "preview"})
    assert r.status_code == 200, main(r.text)
    text = main(r.text)
    assert "预览（未归档）" in text and "合同变更协议（草稿 DRAFT）" in text
    assert "第三条 合同金额 | 人民币 480,000 元 | 人民币 520,000 元" in r.text
    assert "HT-2026-001" in text and "LibreOffice" in text
    assert len(events(world, "file")) == before
    assert 'value="第三条 合同金额"' in r.text  # the form keeps what was typed
    event = events(world, "generate")[-1]
    assert event.outcome == "ok" and "doc_id" not in event.objects


def test_a_dunning_preview_at_a_chosen_level(world, users):
    r = users("carol").post("/paperwork/dunning-letter", {"client": "C001", "level": "1", "do": "preview"})
    assert r.status_code == 200, main(r.text)
    text = main(r.text)
    assert "INV-0042" in text and "壹拾肆万肆仟肆佰零玖元零贰分" in text and "中国工商银行北京朝阳支行" in text


@pytest.mark.skipif(pdfs.soffice() is None, reason="needs LibreOffice")
def test_with_libreoffice_the_preview_shows_pages_and_the_pdf_downloads(world, users, monkeypatch):
    monkeypatch.undo()
    carol = users("carol")
    r = carol.post("/paperwork/dunning-letter", {"client": "C002", "do": "preview"})
    assert r.status_code == 400  # C002 owes nothing
    r = carol.post("/paperwork/dunning-letter", {"client": "C001", "level": "1", "do": "preview"})
    assert r.status_code == 200 and '<img class="page" src="data:image/png;base64,' in r.text
    r = carol.post("/paperwork/dunning-letter", {"client": "C001", "level": "1", "do": "generate"})
    doc_id = r.headers["location"].split("/")[3].split("?")[0]
    page = carol.get(r.headers["location"])
    assert f'href="/paperwork/documents/{doc_id}/pdf"' in page.text
    pdf = carol.get(f"/paperwork/documents/{doc_id}/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF") and "attachment" in pdf.headers[
        "content-disposition"]
    assert events(world, "export")[-1].objects["doc_id"] == doc_id


# --- generating ------------------------------------------------------------------------------


def test_an_amendment_is_filed_as_a_draft_linked_to_its_contract_and_approved_by_another(world, users):
    _, docs, _ = world
    bob = users("bob")
    r = bob.post("/paperwork/contract-amendment", {**amendment(docs), "do": "generate"})
    assert r.status_code == 303, main(r.text)
    assert r.headers["location"].startswith("/paperwork/documents/C001-") and r.headers["location"].endswith(
        "?done=generated")
    page = bob.get(r.headers["location"])
    doc_id = r.headers["location"].split("/")[3].split("?")[0]
    text = main(page.text)
    assert "文书已生成" in text and "以草稿归档" in text and "草稿（待审批）" in text
    assert f'href="/documents/{docs["C001"]}"' in page.text  # its source
    assert f'href="/documents/{doc_id}/download"' in page.text  # legal may export
    assert 'action="/paperwork/documents/' not in page.text and "等待法务部其他成员审批" in text  # not the drafter
    assert f'href="/paperwork/documents/{doc_id}"' in users("lily").get("/paperwork").text  # lily's drafts to decide
    lily = users("lily")
    decide = lily.get(f"/paperwork/documents/{doc_id}")
    assert f'action="/paperwork/documents/{doc_id}/approve"' in decide.text
    r = lily.post(f"/paperwork/documents/{doc_id}/approve", {"opinion": ""})
    assert r.status_code == 400  # an opinion is needed
    r = lily.post(f"/paperwork/documents/{doc_id}/approve", {"opinion": "同意变更。"})
    assert r.status_code == 303 and r.headers["location"].endswith("?done=approve")
    done = main(lily.get(r.headers["location"]).text)
    assert "已同意" in done and "已审批" in done and "正式文本版本 2 · 草稿版本 1" in done
    assert events(world, "amendment-approve")[-1].outcome == "ok"


def test_the_drafter_cannot_approve_their_own_draft(world, users):
    _, docs, _ = world
    bob = users("bob")
    r = bob.post("/paperwork/contract-amendment", {**amendment(docs, "C002"), "do": "generate"})
    doc_id = r.headers["location"].split("/")[3].split("?")[0]
    r = bob.post(f"/paperwork/documents/{doc_id}/approve", {"opinion": "同意"})
    assert r.status_code == 403
    r = users("lily").post(f"/paperwork/documents/{doc_id}/reject", {"opinion": "金额有误"})
    assert r.status_code == 303 and r.headers["location"].endswith("?done=reject")


def test_a_dunning_letter_is_filed_with_its_invoices_and_offered_for_download(world, users):
    carol = users("carol")
    r = carol.post("/paperwork/dunning-letter", {"client": "C001", "do": "generate"})
    assert r.status_code == 303, main(r.text)
    page = carol.get(r.headers["location"])
    text = main(page.text)
    assert "发票 INV-0042" in text and "发票 INV-0043" in text
    doc_id = r.headers["location"].split("/")[3].split("?")[0]
    assert f'href="/documents/{doc_id}/download"' in page.text and "/pdf" not in page.text  # no LibreOffice here
    got = carol.get(f"/documents/{doc_id}/download")
    assert got.status_code == 200 and got.content.startswith(b"PK")


def test_without_export_the_paperwork_is_filed_but_not_offered(world, users):
    _, docs, _ = world
    nora = users("nora")
    r = nora.post("/paperwork/contract-amendment", {**amendment(docs), "do": "generate"})
    assert r.status_code == 303, main(r.text)
    page = nora.get(r.headers["location"])
    doc_id = r.headers["location"].split("/")[3].split("?")[0]
    assert "/download" not in page.text and "没有导出权限" in main(page.text)
    assert nora.get(f"/documents/{doc_id}/download").status_code == 403


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize("data, status, says", [
    ({"v:effective": ""}, 400, "请填写：生效日期"),
    ({"v:effective": "2026-13-45"}, 400, "invalid date"),
    ({"client": ""}, 400, "choose the client"),
    ({"contract": ""}, 400, "请填写：合同"),
    ({"client": "C001", "contract": "C002"}, 400, "is not a contract of client C001"),
    ({"client": "C999"}, 404, "C999"),
])
def test_bad_input_shows_the_form_again_with_the_status(world, users, data, status, says):
    _, docs, _ = world
    data = {**amendment(docs), **{k: docs.get(v, v) if k == "contract" else v for k, v in data.items()}}
    before = len(events(world, "file"))
    r = users("bob").post("/paperwork/contract-amendment", {**data, "do": "generate"})
    assert r.status_code == status and says in main(r.text)
    assert 'value="第三条 合同金额"' in r.text  # the form again, with what was typed
    assert len(events(world, "file")) == before


def test_a_bad_amount_is_refused_and_marked(users):
    r = users("carol").post("/paperwork/admission-form", {"client": "C001", "v:business.need": "户外大屏",
                                                          "v:budget": "十二万", "do": "preview"})
    assert r.status_code == 400 and "budget: invalid amount" in main(r.text)
    assert re.search(r'name="v:budget" value="十二万"[^>]*class="invalid"', r.text)


def test_a_profile_gap_is_asked_for_on_the_form(users):
    carol = users("carol")
    data = {"client": "C001", "v:business.need": "户外大屏", "v:budget": "120000", "do": "preview"}
    r = carol.post("/paperwork/admission-form", data)
    assert r.status_code == 400 and "客户地址" in main(r.text) and 'name="p:client.address"' in r.text
    r = carol.post("/paperwork/admission-form", {**data, "p:client.address": "北京市朝阳区光华路8号"})
    assert r.status_code == 200 and "北京市朝阳区光华路8号" in main(r.text) and "壹拾贰万元整" in main(r.text)


def test_a_form_without_its_csrf_token_is_refused(world, users):
    _, docs, _ = world
    r = users("bob").post("/paperwork/contract-amendment", {**amendment(docs), "do": "generate"}, csrf=False)
    assert r.status_code == 403


def test_a_missing_letterhead_is_explained_with_a_link_to_set_it(letterhead):
    """The letterhead of tests/conftest.py has no bank and account, which the dunning letter prints."""
    receivables.add_invoice(letterhead.login("carol"), "C001", "INV-1", "1000.00", "2026-01-31")
    app = create_app(letterhead.home, ServerSettings(), clock=Clock(), failed_delay=0.0)
    carol = User(app, "carol")
    r = carol.post("/paperwork/dunning-letter", {"client": "C001", "do": "preview"})
    assert r.status_code == 400
    text = main(r.text)
    assert "公司信头信息不完整" in text and "开户银行" in text and "银行账号" in text
    assert 'href="/admin/letterhead"' in r.text



def test_documents_are_rendered_one_at_a_time(world, users, monkeypatch):
    """Rendering is Python work under one interpreter lock: the server renders
    one document at a time (ServerSettings.render_slots), so a burst of letters
    waits its turn instead of starving every search."""
    import threading
    import time

    active, most, lock = [0], [0], threading.Lock()

    def slow_preview(*args, **kwargs):
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
        time.sleep(0.2)
        with lock:
            active[0] -= 1
        raise UsageError("stopped here", code="test-stop")

    monkeypatch.setattr(paperwork, "preview", slow_preview)
    people = [users(name) for name in ("bob", "lily", "carol")]
    answers: list[int] = []

    def post(user, template):
        answers.append(user.post(f"/paperwork/{template}", {"client": "C001", "do": "preview"}).status_code)

    threads = [threading.Thread(target=post, args=(u, t)) for u, t in
               zip(people, ("contract-amendment", "contract-amendment", "dunning-letter"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [400, 400, 400] and most[0] == 1
