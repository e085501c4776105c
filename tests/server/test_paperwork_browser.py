"""The paperwork pages in a real browser (Playwright driving Debian's
Chromium): bob (legal) drafts a contract amendment (the contract picker
follows the client, rows added to the changes table, a preview, generate);
carol (credit) watches the 大写 of an amount follow her typing (the script's
conversion agrees with the library's over a range of amounts), previews a
dunning letter and generates it. Saves docs/screenshots/paperwork-list.png,
paperwork-form.png and paperwork-done.png at 1366x768."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from archive_manager.generation.values import money_upper
from archive_manager.server.app import create_app
from archive_manager.server.web import ServerSettings
from tests.server import test_browser
from tests.server.test_admission_browser import Watch
from tests.server.test_browser import CHROMIUM, served
from tests.server.test_paperwork_pages import Clock, build

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")]

browser = test_browser.browser
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
AMOUNTS = ["0", "0.05", "10", "100000", "1000001.1", "12345678.9", "123456.7", "0.005", "0.004", "1,250,000",
           " 88.80 ", "100.10", "10010", "100000001", "1010101010.01", "999999999999.99", "200000.05", "7.999",
           "100001000", "200006000.41", "100010000", "60036000.08", "1010", "105000", "10001000", "20000000",
           "0.10", "1.01", "10.05", "101.10", "10000.01", "1000010", "1001000", "100100100.10", "9999999999.99",
           "10100000000"]


@pytest.fixture
def live(tmp_path, monkeypatch):
    monkeypatch.setenv("ARCHIVE_KDF_PROFILE", "test")
    root = tmp_path / "home"
    root.mkdir()
    arch, docs = build(root)
    with served(create_app(arch.home, ServerSettings(), clock=Clock(), failed_delay=0.0)) as base:
        yield base, docs


def amounts() -> list[str]:
    rng = random.Random(19)
    out = list(AMOUNTS)
    for digits in range(1, 13):
        for _ in range(8):
            whole = rng.randrange(10 ** (digits - 1), 10 ** digits)
            whole = int(str(whole)[:rng.randrange(1, digits + 1)].ljust(digits, "0")) if rng.random() < .5 else whole
            out.append(f"{whole}.{rng.randrange(0, 1000):03d}"[: -rng.randrange(0, 4) or None])
    return out


def test_paperwork_in_the_browser(live, browser):
    base, docs = live
    watch = Watch(base)
    SHOTS.mkdir(parents=True, exist_ok=True)

    # bob (legal): the list, then an amendment of C001's contract
    bob = watch.page(browser, "bob")
    bob.click("header nav a[href='/paperwork']")
    bob.wait_for_url("**/paperwork")
    assert "合同变更协议" in bob.inner_text("table.paperwork")
    bob.screenshot(path=str(SHOTS / "paperwork-list.png"))
    bob.click("table.paperwork a.button[href='/paperwork/contract-amendment']")
    bob.wait_for_url("**/paperwork/contract-amendment")
    bob.select_option("select[name=client]", "C001")
    offered = bob.eval_on_selector_all("select[name=contract] option:not([hidden])", "os => os.map(o => o.value)")
    assert offered == ["", docs["C001"]]  # C002's contract is not offered for C001
    bob.select_option("select[name=contract]", docs["C001"])
    bob.fill("input[name=v\\:effective]", "2026-12-01")
    rows = [("第三条 合同金额", "人民币 480,000 元", "人民币 520,000 元"), ("第五条 投放期限", "三个月", "六个月"),
            ("第七条 付款方式", "一次付清", "分两期支付"), ("第九条 违约责任", "按日万分之三", "按日万分之五")]
    bob.click("button.add-row")  # a fourth row
    assert bob.locator("table.rows tbody tr").count() == 4
    for i, row in enumerate(rows):
        for field, value in zip(("clause", "original", "new"), row):
            bob.fill(f"input[name='l:changes:{i}:{field}']", value)
    bob.click("table.rows tbody tr:nth-child(2) button.remove-row")  # remove the second: renumbered
    assert bob.input_value("input[name='l:changes:1:clause']") == "第七条 付款方式"
    bob.click("button[value=preview]")
    bob.wait_for_selector("section.preview")
    shown = bob.text_content("section.preview pre.doc-text")
    assert "第七条 付款方式" in shown and "第五条" not in shown
    bob.click("button[value=generate]")
    bob.wait_for_url("**/paperwork/documents/*?done=generated")
    assert "草稿" in bob.inner_text("p.draft-note")

    # carol (credit): the admission form's amounts in capitals as she types
    carol = watch.page(browser, "carol")
    carol.goto(base + "/paperwork/admission-form")
    carol.select_option("select[name=client]", "C001")
    carol.fill("textarea[name=v\\:business\\.need]", "春节档户外大屏与地铁灯箱投放，覆盖北京、上海")
    budget = carol.locator("input[name=v\\:budget]")
    upper = carol.locator("output[data-upper-of='v:budget']")
    budget.type("12")
    assert upper.inner_text() == "壹拾贰元整"
    budget.type("3456.7")
    assert upper.inner_text() == "壹拾贰万叁仟肆佰伍拾陆元柒角" == money_upper("123456.7")
    carol.fill("input[name=v\\:credit\\.limit]", "abc")
    assert carol.inner_text("output[data-upper-of='v:credit.limit']") == "金额格式不对"
    carol.fill("input[name=v\\:credit\\.limit]", "500000")
    carol.fill("input[name=v\\:business\\.channels]", "户外大屏、地铁灯箱")
    carol.screenshot(path=str(SHOTS / "paperwork-form.png"))
    values = amounts()
    said = carol.evaluate("vs => vs.map(v => window.paperworkUpper(v))", values)
    assert dict(zip(values, said)) == {v: money_upper(v) for v in values}
    assert carol.evaluate("window.paperworkUpper('1000000000000')") == "range"

    # carol: a dunning letter, previewed (its pages when LibreOffice is present), then generated
    carol.goto(base + "/paperwork/dunning-letter")
    carol.select_option("select[name=client]", "C001")
    carol.select_option("select[name=level]", "2")
    carol.click("button[value=preview]")
    carol.wait_for_selector("section.preview")
    assert carol.locator("section.preview img.page").count() > 0 or "INV-0042" in carol.inner_text("section.preview")
    carol.locator("section.preview").scroll_into_view_if_needed()
    carol.screenshot(path=str(SHOTS / "paperwork-preview.png"))
    carol.click("button[value=generate]")
    carol.wait_for_url("**/paperwork/documents/*?done=generated")
    assert "INV-0042" in carol.inner_text("ul.sources")
    assert carol.locator("p.actions a[href$='/download']").count() == 1
    carol.screenshot(path=str(SHOTS / "paperwork-done.png"), full_page=False)

    # mike (marketing) has no generate: no link in his bar, and the page itself refuses him
    mike = watch.page(browser, "mike")
    assert mike.locator("header nav a[href='/paperwork']").count() == 0
    refused = mike.goto(base + "/paperwork/contract-amendment")
    assert refused.status == 403 and "生成并归档" not in mike.inner_text("main")

    errors = [e for e in watch.errors if not (e.startswith("mike: ") and "403" in e)]  # the refusal's own status
    assert errors == [] and watch.elsewhere == []
