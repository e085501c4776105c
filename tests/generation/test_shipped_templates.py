"""The shipped templates: each passes the catalog check and renders the
paperwork a clerk expects (names, amounts in figures and 大写, dates, rows)."""

from __future__ import annotations


import pytest

from archive_manager.generation.catalog import check, load_catalog
from archive_manager.generation.render import render
from archive_manager.settings import SHIPPED_DIR
from tests.generation.test_render import text_of

TEMPLATES = SHIPPED_DIR / "templates"
CATALOG = load_catalog(TEMPLATES)
NASTY = '甲&乙<广告>"公司"'


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_shipped_template_passes_the_check(name, tmp_path):
    assert check(CATALOG[name], TEMPLATES, tmp_path) == []


def context(name: str, **changes) -> dict:
    ctx = CATALOG[name].sample()
    ctx["client"].update(name=NASTY)
    ctx.update(changes)
    return ctx


@pytest.mark.parametrize("level,opening,consequence", [
    (1, "付款提醒函", "请忽略本函"),
    (2, "催款函", "计收逾期付款违约金"),
    (3, "最后催告函", "委托律师"),
])
def test_dunning_letter_levels(tmp_path, level, opening, consequence):
    invoices = [{"number": "INV-0042", "contract": "HT-2026-001", "due": "2026-09-30", "amount": "128000",
                 "days_overdue": 58},
                {"number": "INV-0043", "contract": "HT-2026-001", "due": "2026-10-31", "amount": "16409.02",
                 "days_overdue": 27}]
    out = tmp_path / "letter.docx"
    render(TEMPLATES / "dunning-letter.docx",
           context("dunning-letter", level=level, invoices=invoices, total="144409.02", deadline="2026-12-15"), out)
    text = text_of(out)
    assert text.splitlines()[0] == opening
    assert f"{NASTY}：" in text
    assert "人民币 144,409.02 元（大写：壹拾肆万肆仟肆佰零玖元零贰分）" in text
    assert "请贵司于 2026年12月15日 前" in text
    assert "INV-0042 | HT-2026-001 | 2026年9月30日 | 128,000.00 | 58" in text
    assert "INV-0043 | HT-2026-001 | 2026年10月31日 | 16,409.02 | 27" in text
    assert consequence in text
    others = {"请忽略本函", "计收逾期付款违约金", "委托律师"} - {consequence}
    assert not any(o in text for o in others)


def test_contract_amendment_lists_each_change_and_keeps_the_rest_in_force(tmp_path):
    changes = [{"clause": "第三条 合同金额", "original": "人民币 480,000 元", "new": "人民币 520,000 元"},
               {"clause": "第五条 付款期限", "original": "2026年6月30日", "new": "2026年9月30日"}]
    out = tmp_path / "amendment.docx"
    render(TEMPLATES / "contract-amendment.docx",
           context("contract-amendment", changes=changes, effective="2026-12-01", extra_terms=None,
                   contract={"title": "广告发布合同", "number": "HT-2026-001", "date": "2026-03-01"}), out)
    text = text_of(out)
    assert f"甲方：{NASTY}" in text and "《广告发布合同》（合同编号：HT-2026-001" in text
    assert "第三条 合同金额 | 人民币 480,000 元 | 人民币 520,000 元" in text
    assert "第五条 付款期限 | 2026年6月30日 | 2026年9月30日" in text
    assert "本协议自 2026年12月1日 起生效" in text and "其他条款不变，继续有效" in text
    assert "补充约定" not in text and "None" not in text


def test_admission_form_has_the_four_reviews(tmp_path):
    out = tmp_path / "form.docx"
    business = {"need": "年度品牌投放", "channels": "户外、数字"}
    render(TEMPLATES / "admission-form.docx", context("admission-form", business=business, budget="500000"), out)
    text = text_of(out)
    for review in ("市场部初审意见", "信用评估意见", "法务合规审查意见", "管理层决策"):
        assert review in text
    assert f"客户名称 | {NASTY}" in text
    assert "500,000.00（大写：伍拾万元整）" in text
