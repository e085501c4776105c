"""Money and dates the way Chinese business paperwork writes them.

Money is a :class:`~decimal.Decimal`, rounded half-up to cents **once**
(:func:`money`); the figure (``16,409.02``) and the uppercase amount
(``壹万陆仟肆佰零玖元零贰分``, 大写) both come from that one value. cn2an
writes the uppercase but truncates below a cent (0.005 would be 零元整), so it
is only ever given rounded values.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation


from archive_manager.errors import UsageError
from archive_manager.text import check_nested

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("999999999999.99")  # below 万亿: what cn2an writes and paperwork uses


def check_given(given: dict) -> dict:
    """``given`` (the values a user gives a template, nested) unchanged, or a
    :class:`UsageError` for a control character in a name or a value: a
    ``\\x01`` makes docxtpl's lenient XML parser drop the markup of later
    values, ``\\x0c``/``\\x07`` insert breaks. Tab and newline pass: text,
    not markup."""
    check_nested(given, "a given value", multiline=True)
    return given


def money(value: object) -> Decimal:
    """``value`` (a Decimal, int or string like ``"128000.00"`` or ``"1,250,000"``)
    rounded half-up to cents. Floats are refused: they carry binary error."""
    if isinstance(value, bool) or isinstance(value, float):
        raise UsageError(f"amount {value!r} must be given as text or a whole number, not a float")
    try:
        amount = Decimal(str(value).replace(",", "").strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise UsageError(f"invalid amount {value!r}", hint="write it like 128000.00") from None
    if not amount.is_finite():
        raise UsageError(f"invalid amount {value!r}", hint="write it like 128000.00")
    if abs(amount) > MAX_AMOUNT * 10:  # before quantize, which fails on huge exponents
        raise UsageError(f"amount {value!r} is out of range (0 to {MAX_AMOUNT})")
    amount = amount.quantize(CENT, rounding=ROUND_HALF_UP)
    if amount < 0 or amount > MAX_AMOUNT:
        raise UsageError(f"amount {amount} is out of range (0 to {MAX_AMOUNT})")
    return amount


def money_figures(amount: Decimal) -> str:
    """``16,409.02``: thousands separated, always two decimals."""
    return f"{money(amount):,.2f}"


def money_upper(amount: Decimal) -> str:
    """The uppercase (大写) amount, e.g. ``壹拾万元整``."""
    import cn2an  # half a second to import: only where an amount is written out

    return cn2an.an2cn(format(money(amount), "f"), "rmb")


def chinese_date(day: date | str) -> str:
    """``2026年11月26日`` (no leading zeros, as contracts and letters write it)."""
    if isinstance(day, str):
        try:
            day = date.fromisoformat(day)
        except ValueError:
            raise UsageError(f"invalid date {day!r}", hint="use YYYY-MM-DD") from None
    return f"{day.year}年{day.month}月{day.day}日"
