"""Money and dates the way Chinese business paperwork writes them.

Money is a :class:`~decimal.Decimal`, rounded half-up to cents **once**
(:func:`money`); the figure (``16,409.02``) and the uppercase amount
(``壹万陆仟肆佰零玖元零贰分``, 大写) both come from that one value; the
uppercase is written by :func:`money_upper` by the rules of 《支付结算办法》
(written out there).
"""

from __future__ import annotations

import unicodedata
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation


from archive_manager.errors import UsageError
from archive_manager.text import check_nested

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("999999999999.99")  # below 万亿: what money_upper writes and paperwork uses


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
    rounded half-up to cents. Floats are refused: they carry binary error.
    Text is read after NFKC, so the full-width digits, comma and point a
    Chinese input method types (``１２３，４５６．７``) are the ASCII ones (the
    paperwork page's script reads them so too); any other digit (Arabic-Indic,
    say) is refused rather than read."""
    if isinstance(value, bool) or isinstance(value, float):
        raise UsageError(f"amount {value!r} must be given as text or a whole number, not a float")
    text = unicodedata.normalize("NFKC", str(value)).replace(",", "").strip()
    if not isinstance(value, Decimal) and not text.isascii():
        raise UsageError(f"invalid amount {value!r}", hint="write it like 128000.00")
    try:
        amount = Decimal(text) if not isinstance(value, Decimal) else value
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


DIGITS = "零壹贰叁肆伍陆柒捌玖"
PLACES = ("", "拾", "佰", "仟")  # within a group of four digits
GROUPS = ("", "万", "亿")  # the groups of four digits: money() keeps amounts below 万亿


def _integer_upper(number: int) -> str:
    """The whole yuan ``number`` (0 to 999999999999) in capitals, without 元."""
    if number == 0:
        return DIGITS[0]
    digits = str(number)
    out: list[str] = []
    zero = False  # zeros passed since the last digit or group written: one 零 before the next digit
    for i, char in enumerate(digits):
        place = len(digits) - 1 - i
        if char != "0":
            if zero:
                out.append(DIGITS[0])
            out.append(DIGITS[int(char)] + PLACES[place % 4])
            zero = False
        else:
            zero = True
        if place % 4 == 0 and place and int(digits[max(0, i - 3):i + 1]):
            out.append(GROUPS[place // 4])  # 万/亿 marks the place: its own trailing zeros need no 零
            zero = False
    return "".join(out)


def money_upper(amount: Decimal) -> str:
    """The uppercase (大写) amount of ``amount`` rounded by :func:`money` (which
    refuses negative amounts and amounts from 万亿 up), e.g. ``壹拾万元整``.

    Written by the rules of 《支付结算办法》 (附件一: 正确填写票据和结算凭证的基本规定):

    - Digits 零壹贰叁肆伍陆柒捌玖, places 拾佰仟 within groups of four digits,
      the groups marked 万 and 亿 (an all-zero 万 group is not marked:
      ``壹亿元整``). 壹拾 keeps its 壹 (``壹拾元整``, ``壹拾万元整``).
    - Zeros between non-zero digits of the yuan are written as one 零 per run
      (``壹仟零壹拾元整``, ``陆仟零柒元``), also when the run crosses or fills a
      whole group (``壹佰万零壹元``, ``壹亿零壹仟元整``, ``壹亿零壹拾万零壹佰元``).
      Zeros ending a group just before its 万/亿 are not followed by 零 when
      the next group's 仟 is non-zero (``壹拾万伍仟元整``, ``陆仟零叁万陆仟元``):
      the rules allow 零 there or not, and this is what cn2an and the existing
      documents write. Trailing zeros: none (``贰仟万元整``).
    - 元 after the yuan, then 整 when there are no 角 and 分 (``零元整`` for 0).
      角 follows 元 directly, with no 零 and no 整 after it (``壹佰元伍角``,
      ``壹佰零壹元壹角``, ``壹元壹角伍分``). With 角 zero and 分 not, 零 comes
      before the 分 (``壹拾元零伍分``). Below one yuan the 零元 is left out
      (``伍分``, ``壹角``, ``壹角伍分``). 分 is never followed by 整.

    Hand-written: cn2an's "rmb" mode drops the 零 when a whole 万 group is
    zero before a non-zero 仟 (100001000 as 壹亿壹仟元整), and truncates below
    a cent. static/paperwork.js mirrors this function exactly.
    """
    cents = int(money(amount) * 100)
    yuan, rest = divmod(cents, 100)
    jiao, fen = divmod(rest, 10)
    if not rest:
        return _integer_upper(yuan) + "元整"
    head = _integer_upper(yuan) + "元" if yuan else ""
    if jiao:
        return head + DIGITS[jiao] + "角" + (DIGITS[fen] + "分" if fen else "")
    return head + (DIGITS[0] if yuan else "") + DIGITS[fen] + "分"


def chinese_date(day: date | str) -> str:
    """``2026年11月26日`` (no leading zeros, as contracts and letters write it)."""
    if isinstance(day, str):
        try:
            day = date.fromisoformat(day)
        except ValueError:
            raise UsageError(f"invalid date {day!r}", hint="use YYYY-MM-DD") from None
    return f"{day.year}年{day.month}月{day.day}日"
