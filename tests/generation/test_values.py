"""Money (half-up once, figures and 大写 from the same value) and Chinese dates."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
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
])
def test_uppercase_amounts(value, upper):
    assert money_upper(money(value)) == upper


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
