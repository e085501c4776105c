"""Money (half-up once, figures and 大写 from the same value) and Chinese dates."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archive_manager.errors import UsageError
from archive_manager.generation import chinese_date, money, money_figures, money_upper


@pytest.mark.parametrize("value,upper", [
    ("0.005", "壹分"),              # half-up; cn2an alone would truncate to 零元整
    ("0.004", "零元整"),
    ("16409.02", "壹万陆仟肆佰零玖元零贰分"),
    ("100000", "壹拾万元整"),
    ("1,250,000.00", "壹佰贰拾伍万元整"),
    ("40500", "肆万零伍佰元整"),
    ("1000000.06", "壹佰万元零陆分"),
    ("2.495", "贰元伍角"),
    ("99.995", "壹佰元整"),
    # 《支付结算办法》: one 零 per run of zeros between digits, also across or filling a 万 group
    ("100001000", "壹亿零壹仟元整"),  # cn2an: 壹亿壹仟元整 (the 零 lost)
    ("200006000.41", "贰亿零陆仟元肆角壹分"),  # cn2an: 贰亿陆仟元肆角壹分
    ("100000001", "壹亿零壹元整"),
    ("100010000", "壹亿零壹万元整"),
    ("1000001.10", "壹佰万零壹元壹角"),
    ("60036000.08", "陆仟零叁万陆仟元零捌分"),
    ("1010", "壹仟零壹拾元整"),
    ("6007.14", "陆仟零柒元壹角肆分"),
    ("105000", "壹拾万伍仟元整"),  # 零 after 万 before a 仟: allowed either way, left out
    ("10001000", "壹仟万壹仟元整"),
    ("110000000", "壹亿壹仟万元整"),
    ("0.05", "伍分"),
    ("0", "零元整"),
    ("20000000", "贰仟万元整"),
    ("10", "壹拾元整"),  # 壹拾, not 拾
    ("110", "壹佰壹拾元整"),
    ("100000000", "壹亿元整"),
    ("10100000000", "壹佰零壹亿元整"),
    ("1.00", "壹元整"),
    ("0.10", "壹角"),
    ("0.15", "壹角伍分"),
    ("1.01", "壹元零壹分"),
    ("10.05", "壹拾元零伍分"),
    ("100.5", "壹佰元伍角"),  # no 整 after 角
    ("101.10", "壹佰零壹元壹角"),
    ("1680.32", "壹仟陆佰捌拾元叁角贰分"),
    ("10000.01", "壹万元零壹分"),
    ("1000010", "壹佰万零壹拾元整"),
    ("1001000", "壹佰万壹仟元整"),
    ("100100100.10", "壹亿零壹拾万零壹佰元壹角"),
    ("1000000000.01", "壹拾亿元零壹分"),
    ("9999999999.99", "玖拾玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分"),
    ("999999999999.99", "玖仟玖佰玖拾玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分"),
])
def test_uppercase_amounts(value, upper):
    assert money_upper(money(value)) == upper


@pytest.mark.parametrize("bad", ["1000000000000", "-0.01", "-1"])
def test_uppercase_refuses_what_money_refuses(bad):  # 万亿 and up, negative: out of range
    with pytest.raises(UsageError):
        money_upper(bad)


UPPER_DIGITS = "零壹贰叁肆伍陆柒捌玖"
UPPER_PLACES = {"": 0, "拾": 1, "佰": 2, "仟": 3}


def read_upper(text: str) -> tuple[Decimal, str]:
    """An independent reading of a 大写 amount: its value, checked token by
    token, and the yuan part's digits and 零s by position ("d@p", "零")."""
    yuan, sep, tail = text.partition("元")
    if not sep:
        yuan, tail = "", text  # below one yuan: no 元
    tokens = re.findall(r"零|[壹贰叁肆伍陆柒捌玖][拾佰仟]?|[万亿]", yuan)
    assert "".join(tokens) == yuan, text
    whole, group, written = 0, 0, []
    for token in reversed(tokens):
        if token in "万亿":
            assert {"万": 1, "亿": 2}[token] > group, text
            group = {"万": 1, "亿": 2}[token]
        elif token == "零":
            written.append("零")
        else:
            position = group * 4 + UPPER_PLACES[token[1:]]
            whole += UPPER_DIGITS.index(token[0]) * 10 ** position
            written.append(position)
    written.reverse()
    match = re.fullmatch(r"(整)|(零)?([壹贰叁肆伍陆柒捌玖]分)|([壹贰叁肆伍陆柒捌玖]角)([壹贰叁肆伍陆柒捌玖]分)?", tail)
    assert match, text
    jiao = UPPER_DIGITS.index(match[4][0]) if match[4] else 0
    fen = UPPER_DIGITS.index((match[3] or match[5] or "零")[0])
    return Decimal(whole) + Decimal(jiao) / 10 + Decimal(fen) / 100, written


@st.composite
def amounts(draw):  # zero-heavy: runs of zeros inside, across and filling 万/亿 groups
    digit = st.sampled_from("00000123456789")
    group = st.one_of(st.just("0000"), st.lists(digit, min_size=4, max_size=4).map("".join))
    whole = "".join(draw(st.lists(group, min_size=1, max_size=3)))
    return Decimal(f"{int(whole)}.{draw(st.integers(0, 99)):02d}")


@settings(max_examples=300)
@given(amounts())
def test_uppercase_reads_back_by_the_rules(value):
    upper = money_upper(value)
    read, written = read_upper(upper)
    assert read == value
    assert "零零" not in upper
    assert upper.endswith("整") == (value == value.to_integral_value())
    assert "角" in upper or "分" in upper or upper.endswith("元整")
    whole = int(value)
    if whole == 0:
        assert written == (["零"] if upper == "零元整" else []), upper
        assert upper == "零元整" or "元" not in upper
        return
    assert written[0] != "零" and written[-1] != "零", upper
    for i in range(len(written) - 1):  # between two digits: 零 iff zeros between, but not just before a 仟
        if written[i] == "零":
            continue
        high, zero = written[i], written[i + 1] == "零"
        low = written[i + 2] if zero else written[i + 1]
        gap = high - low - 1
        assert zero == (gap > 0 and low != high // 4 * 4 - 1), (upper, high, low)
    cents = int(value * 100) % 100
    if cents and cents < 10:
        assert "元零" in upper  # 角 zero, 分 not: 零 after 元


@pytest.mark.parametrize("value,figures", [
    ("16409.02", "16,409.02"), ("0.005", "0.01"), ("100000", "100,000.00"), (Decimal("2.345"), "2.35"), (7, "7.00"),
])
def test_figures(value, figures):
    assert money_figures(money(value)) == figures


@pytest.mark.parametrize("bad", [1.5, True, "abc", "NaN", "Infinity", "-1", "1e15", ""])
def test_bad_amounts_are_refused(bad):
    with pytest.raises(UsageError):
        money(bad)


@given(st.decimals(min_value=0, max_value=Decimal("99999999.999"), places=3, allow_nan=False))
def test_figures_and_uppercase_come_from_the_same_rounded_value(value):
    rounded = money(value)
    assert rounded == value.quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
    assert money(money_figures(rounded)) == rounded
    assert money_upper(value) == money_upper(rounded)


def test_chinese_dates():
    assert chinese_date(date(2026, 11, 26)) == "2026年11月26日"
    assert chinese_date("2026-03-01") == "2026年3月1日"
    with pytest.raises(UsageError):
        chinese_date("2026-13-01")


@pytest.mark.parametrize("typed, read", [("１２３．５", "123.50"), ("1，250", "1250.00"), ("１２８０００", "128000.00")])
def test_full_width_digits_of_an_input_method_are_read(typed, read):
    assert str(money(typed)) == read


@pytest.mark.parametrize("typed", ["١٢٣", "１２３x", "۱۲۳"])
def test_other_digits_are_refused(typed):
    with pytest.raises(UsageError):
        money(typed)
