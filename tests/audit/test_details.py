"""Sealed audit details: a round trip, and names read from the disk that are
not UTF-8 (surrogate escapes) sealed as text instead of failing the event."""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from archive_manager.audit.details import open_details, seal_details
from archive_manager.crypto.primitives import kem_generate, kem_public_bytes

SECRET = kem_generate(os.urandom)
PUBLIC = kem_public_bytes(SECRET)


def _round_trip(details: dict) -> object:
    sealed = seal_details(details, "vault-x", 3, PUBLIC)
    return open_details(sealed, "vault-x", lambda gen: SECRET if gen == 3 else None)


@settings(max_examples=25, deadline=None)
@given(st.dictionaries(st.sampled_from(["query", "title", "file_name"]), st.text(max_size=40), min_size=1))
def test_details_round_trip(details):
    assert _round_trip(details) == details


def test_a_name_that_is_not_utf8_is_sealed_as_text():
    name = os.fsdecode(b"\xd6\xd0\xce\xc4.txt")
    opened = _round_trip({"file_name": name})
    assert opened == {"file_name": "\\xd6\\xd0\\xce\\xc4.txt"}


def test_details_for_another_generation_are_not_opened():
    sealed = seal_details({"query": "合同"}, "vault-x", 3, PUBLIC)
    assert open_details(sealed, "vault-x", lambda gen: None) == "(sealed to audit key 3, which you do not hold)"
