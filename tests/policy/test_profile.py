"""policies/profile.toml: the client profile's fields, their kinds and the
departments that own them (issue 15.7); an earlier archive has no such file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from archive_manager.errors import PolicyError
from archive_manager.policy import POLICY_FILES, load_policy, read_policy_files
from archive_manager.settings import SHIPPED_DIR

SHIPPED = SHIPPED_DIR / "policies"

# what the shipped policy says (and its comments explain): who answers for each field
EXPECTED_OWNERS = {
    "legal_rep": {"legal"}, "credit_code": {"legal"},
    "address": {"marketing", "business"}, "contact": {"marketing", "business"},
    "phone": {"marketing", "business"}, "email": {"marketing", "business"},
    "credit_limit": {"credit"}, "credit_rating": {"credit"}, "payment_terms": {"credit"},
}


@pytest.fixture
def pol(tmp_path: Path) -> Path:
    """A writable copy of the shipped policies, profile.toml included."""
    dst = tmp_path / "policies"
    dst.mkdir()
    for name in POLICY_FILES:
        shutil.copy2(SHIPPED / name, dst / name)
    return dst


def write_profile(pol: Path, text: str) -> None:
    (pol / "profile.toml").write_text(text, encoding="utf-8")


def error_of(pol: Path) -> str:
    with pytest.raises(PolicyError) as exc:
        load_policy(pol)
    assert exc.value.exit_code == 6
    return exc.value.message


def test_the_shipped_profile_fields_and_their_owners():
    policy = load_policy(SHIPPED)
    assert policy.profile is not None
    assert {f: set(field.owners) for f, field in policy.profile.items()} == EXPECTED_OWNERS
    kinds = {f: field.kind for f, field in policy.profile.items()}
    assert kinds["credit_limit"] == "money" and kinds["credit_code"] == "credit-code"
    assert kinds["credit_rating"] == "choice" and policy.profile["credit_rating"].choices == (
        "AAA", "AA", "A", "B", "C")
    assert all(field.name.strip() for field in policy.profile.values())
    # every owner can open the profile: it holds the key of the class the profile lives in
    for field in policy.profile.values():
        for dept in field.owners:
            assert "basic" in policy.classes_for([dept]), (field.id, dept)


def test_who_owns_a_field():
    policy = load_policy(SHIPPED)
    assert policy.owns(["credit"], "credit_limit")
    assert not policy.owns(["credit"], "address")
    assert policy.owns(["legal", "credit"], "legal_rep")
    assert not policy.owns(["marketing"], "credit_limit")
    assert not policy.owns(["archive"], "credit_limit")  # administrators change fields as admins, not owners
    assert not policy.owns(["credit"], "no_such_field")


def test_a_policy_without_profile_toml_has_no_profile_section(pol):
    """An archive made before issue 15: its policies/ has the four files only."""
    (pol / "profile.toml").unlink()
    assert "profile.toml" not in read_policy_files(pol)
    policy = load_policy(pol)
    assert policy.profile is None
    assert not policy.owns(["credit"], "credit_limit")


def test_profile_toml_is_a_policy_file_init_copies():
    assert "profile.toml" in POLICY_FILES


def test_profile_toml_is_read_with_the_policy_files(pol):
    assert read_policy_files(pol)["profile.toml"] == (SHIPPED / "profile.toml").read_text(encoding="utf-8")


@pytest.mark.parametrize("text, message", [
    ('[address]\nname = "地址"\nkind = "text"\nowners = ["sales"]\n',
     "profile.toml: address.owners: unknown department 'sales' (define it in departments.toml)"),
    ('[address]\nname = "地址"\nkind = "text"\nowners = ["audit"]\n',
     "profile.toml: address.owners: department 'audit' holds no key of class 'basic', where the profile "
     "is kept, so it could not change the field (grant it the class in grants.toml)"),
    ('[address]\nname = "地址"\nkind = "colour"\nowners = []\n',
     "profile.toml: address.kind: unknown kind 'colour' (known: text, money, credit-code, choice)"),
    ('[address]\nname = "地址"\nowners = []\n',
     "profile.toml: address.kind: unknown kind None (known: text, money, credit-code, choice)"),
    ('[rating]\nname = "等级"\nkind = "choice"\nowners = []\n',
     "profile.toml: rating.choices: a choice needs a non-empty list of choices"),
    ('[rating]\nname = "等级"\nkind = "text"\nchoices = ["A"]\nowners = []\n',
     "profile.toml: rating.choices: only a field of kind 'choice' has choices"),
    ('[address]\nname = "地址"\nkind = "text"\nowners = []\nclass = "credit"\n',
     "profile.toml: address.class: unknown key"),
    ('[address]\nkind = "text"\nowners = []\n', "profile.toml: address.name: missing or empty display name"),
    ('[address]\nname = "地址"\nkind = "text"\nowners = "marketing"\n',
     "profile.toml: address.owners: must be a list of strings"),
    ('[Address]\nname = "地址"\nkind = "text"\nowners = []\n',
     "profile.toml: Address: invalid field name (use lower-case letters, digits and '_', starting with a letter)"),
    ('[name]\nname = "名称"\nkind = "text"\nowners = []\n',
     "profile.toml: name: reserved: the client's name and code are its directory entry, not profile fields"),
    ('address = "地址"\n', "profile.toml: address: must be a table"),
    ('[address\n', None),
])
def test_profile_mistakes_name_file_key_and_reason(pol, text, message):
    write_profile(pol, text)
    got = error_of(pol)
    if message is None:
        assert got.startswith("profile.toml: invalid TOML: "), got
    else:
        assert got == message
