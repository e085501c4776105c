"""archive_manager.text: typed values refused with control characters; what is
shown escaped, nested values included."""

from __future__ import annotations

import pytest

from archive_manager.errors import UsageError
from archive_manager.text import check_nested, check_text, printable, printable_nested


def test_check_text_refuses_control_characters_and_names_the_first():
    assert check_text("北京星辰传媒 (Acme) ＆ 合同", "the name") == "北京星辰传媒 (Acme) ＆ 合同"
    for bad, code in (("\x01", "0001"), ("\x7f", "007F"), ("\x85", "0085"), ("\u2029", "2029"), ("\t", "0009")):
        with pytest.raises(UsageError) as info:
            check_text(f"a{bad}b\x02", "the name")
        assert info.value.message == f"the name contains a control character U+{code}"
        assert info.value.exit_code == 2
    assert check_text("a\tb\nc", "a note", multiline=True) == "a\tb\nc"
    with pytest.raises(UsageError, match=r"U\+000D"):
        check_text("a\r\nb", "a note", multiline=True)


def test_printable_escapes_what_a_terminal_interprets():
    assert printable("合同 HT-2026 ｜ ok") == "合同 HT-2026 ｜ ok"
    assert printable("a\x1b]0;x\x07b") == "a\\x1b]0;x\\x07b"
    assert printable("\u202eevil\ud800") == "\\u202eevil\\ud800"
    assert printable("line\nnext") == "line\\x0anext"
    assert printable("合同\udcb1.txt") == "合同\\xb1.txt", "a byte that was not UTF-8, as `shown` writes it"


def test_printable_nested_escapes_keys_and_values_and_keeps_the_rest():
    data = {"t\x1b": ["a\x07", {"n": 3, "x": None, "f": 1.5, "ok": True}], "plain": ("元", "\x9b")}
    assert printable_nested(data) == {"t\\x1b": ["a\\x07", {"n": 3, "x": None, "f": 1.5, "ok": True}],
                                      "plain": ["元", "\\x9b"]}
    assert printable_nested("\x1b") == "\\x1b" and printable_nested(7) == 7


def test_check_nested_names_the_path_of_the_bad_value():
    check_nested({"a": {"b": ["x", 1, None, {"c": "第一行\n第二行\t"}]}}, "the value", multiline=True)
    with pytest.raises(UsageError) as info:
        check_nested({"a": {"b": ["x", "y\x0c"]}}, "the value")
    assert info.value.message == "the value a.b[1] contains a control character U+000C"
    with pytest.raises(UsageError) as info:
        check_nested({"a": {"b\x01": "x"}}, "the value", multiline=True)
    assert info.value.message == "the value name a.b\\x01 contains a control character U+0001"
    with pytest.raises(UsageError) as info:
        check_nested({"first": "\x01", "second": "\x02"}, "v")
    assert "U+0001" in info.value.message, "the first bad value in order"


@pytest.mark.slow
def test_check_nested_goes_deep_without_recursing():
    deep: object = "\x01"
    for _ in range(5000):
        deep = {"k": [deep]}
    with pytest.raises(UsageError, match="U\\+0001"):
        check_nested(deep, "v")
