"""The shipped policies match the issue tables; every kind of mistake names file, key and reason."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from archive_manager.errors import PolicyError, UsageError
from archive_manager.policy import ACTIONS, OPTIONAL_POLICY_FILES, POLICY_FILES, load_policy
from archive_manager.settings import SHIPPED_DIR
from archive_manager.cli.hints import cli_hint

SHIPPED = SHIPPED_DIR / "policies"
REPO_POLICIES = Path(__file__).resolve().parents[2] / "policies"

ALL_CLASSES = {"basic", "business", "credit", "contract", "project", "communication", "service"}

EXPECTED_TYPES = {
    "basic": ("business-license", "qualification", "client-profile", "admission-form", "client-application",
              "admission-decision"),
    "business": ("requirements", "marketing-review"),
    "credit": ("credit-report", "credit-assessment", "receivable", "dunning-letter"),
    "contract": ("contract", "contract-amendment", "legal-review"),
    "project": ("plan", "production-file", "monitoring-report", "feedback", "project-review"),
    "communication": ("minutes", "email", "call-note"),
    "service": ("complaint", "survey"),
}

EXPECTED_DEPARTMENTS = {"archive", "business", "marketing", "credit", "legal", "management", "audit"}

EXPECTED_GRANTS = {
    "archive": (ALL_CLASSES, {"file", "read", "search", "export", "generate", "admin"}),
    "business": ({"basic", "business", "project", "communication", "service"},
                 {"file", "read", "search", "export"}),
    "marketing": ({"basic", "business"}, {"read", "search"}),
    "credit": ({"basic", "credit"}, {"file", "read", "search", "export", "generate"}),
    "legal": ({"basic", "contract", "service"}, {"file", "read", "search", "export", "generate"}),
    "management": ({"basic", "business", "credit", "contract", "project"}, {"read", "search"}),
    "audit": (set(), {"audit"}),
}


@pytest.fixture(scope="module")
def shipped():
    return load_policy(SHIPPED)


@pytest.fixture
def pol(tmp_path: Path) -> Path:
    """A writable copy of the shipped policies."""
    dst = tmp_path / "policies"
    dst.mkdir()
    for name in POLICY_FILES:
        shutil.copy2(SHIPPED / name, dst / name)
    return dst


def edit(directory: Path, file: str, old: str, new: str) -> None:
    path = directory / file
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {file}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def append(directory: Path, file: str, text: str) -> None:
    with open(directory / file, "a", encoding="utf-8") as fh:
        fh.write("\n" + text)


def assert_policy_error(directory: Path, message: str) -> PolicyError:
    with pytest.raises(PolicyError) as exc:
        load_policy(directory)
    assert exc.value.message == message
    assert str(exc.value) == message
    assert exc.value.exit_code == 6
    return exc.value


# --- the shipped tables ------------------------------------------------------------


def test_shipped_dir_is_the_repository():
    assert SHIPPED.resolve() == REPO_POLICIES.resolve()
    for name in POLICY_FILES:
        assert (REPO_POLICIES / name).is_file()


def test_seven_classes_with_their_types(shipped):
    assert set(shipped.classes) == ALL_CLASSES
    for cls, types in EXPECTED_TYPES.items():
        assert shipped.classes[cls].types == types, cls
        assert shipped.classes[cls].id == cls
        assert shipped.classes[cls].name.strip()
    all_types = [t for ts in EXPECTED_TYPES.values() for t in ts]
    assert len(all_types) == len(set(all_types)) == 25
    assert set(shipped.types) == set(all_types)
    for cls, types in EXPECTED_TYPES.items():
        for t in types:
            assert shipped.types[t].access_class == cls
            assert shipped.doc_type(t).access_class == cls


def test_class_display_names(shipped):
    names = {c: shipped.classes[c].name for c in shipped.classes}
    assert names == {"basic": "基本信息", "business": "业务需求", "credit": "信用信息", "contract": "合同",
                     "project": "合作项目", "communication": "沟通记录", "service": "其他记录"}


def test_seven_departments(shipped):
    assert set(shipped.departments) == EXPECTED_DEPARTMENTS
    assert shipped.departments["legal"] == "法务部"
    assert shipped.departments["credit"] == "信用管理部"
    assert shipped.departments["archive"] == "档案管理部"


def test_grants_table(shipped):
    assert set(shipped.grants) == set(EXPECTED_GRANTS)
    for dept, (classes, actions) in EXPECTED_GRANTS.items():
        grant = shipped.grants[dept]
        assert grant.department == dept
        assert set(grant.classes) == classes, dept
        assert set(grant.actions) == actions, dept
        assert shipped.classes_for([dept], "read") == (frozenset(classes) if "read" in actions else frozenset())
        assert shipped.actions_for([dept]) == frozenset(actions)


def test_actions_constant():
    assert ACTIONS == ("file", "read", "search", "export", "generate", "admin", "audit")


@pytest.mark.parametrize("dept,action,cls,expected", [
    ("legal", "read", "contract", True),
    ("legal", "read", "credit", False),
    ("legal", "admin", None, False),
    ("credit", "read", "credit", True),
    ("credit", "read", "contract", False),
    ("credit", "generate", "credit", True),
    ("marketing", "read", "business", True),
    ("marketing", "file", "basic", False),
    ("marketing", "export", "basic", False),
    ("management", "read", "contract", True),
    ("management", "file", "contract", False),
    ("audit", "audit", None, True),
    ("audit", "read", None, False),
    ("audit", "read", "basic", False),
    ("archive", "admin", None, True),
    ("archive", "audit", None, False),
    ("business", "read", "credit", False),
    ("business", "file", "communication", True),
])
def test_allows_matches_table(shipped, dept, action, cls, expected):
    assert shipped.allows([dept], action, cls) is expected


def test_deny_by_default(shipped):
    assert not shipped.allows(["sales"], "read")
    assert not shipped.allows(["sales"], "read", "basic")
    assert not shipped.allows([], "read")
    assert not shipped.allows([], "read", "basic")
    assert not shipped.allows(["legal"], "delete", "contract")
    assert not shipped.allows(["legal"], "read", "nonexistent-class")
    assert shipped.classes_for(["sales"], "read") == frozenset()
    assert shipped.classes_for(["audit"], "read") == frozenset()
    assert shipped.actions_for(["sales"]) == frozenset()


def test_grants_do_not_mix_across_departments(shipped):
    """marketing reads business, credit files credit: nobody gets 'file business' from the mix."""
    assert not shipped.allows(["marketing", "credit"], "file", "business")
    assert shipped.allows(["marketing", "credit"], "read", "business")
    assert shipped.allows(["marketing", "credit"], "file", "credit")
    # management reads contracts but does not file; credit files but does not hold contracts
    assert not shipped.allows(["management", "credit"], "file", "contract")


def test_department_without_grant_is_denied(pol):
    append(pol, "departments.toml", '[sales]\nname = "销售部"\n')
    policy = load_policy(pol)
    assert "sales" in policy.departments
    assert "sales" not in policy.grants
    for action in ACTIONS:
        assert not policy.allows(["sales"], action)
        for cls in policy.classes:
            assert not policy.allows(["sales"], action, cls)


def test_unknown_type_and_department_are_usage_errors(shipped):
    with pytest.raises(UsageError) as exc:
        shipped.doc_type("contracts")
    assert exc.value.message == "unknown document type 'contracts'"
    with pytest.raises(UsageError) as exc:
        shipped.check_department("sales")
    assert exc.value.message == "unknown department 'sales'"
    shipped.check_department("legal")


def test_copy_loads_like_shipped(pol, shipped):
    assert load_policy(pol) == shipped


# --- mistakes ---------------------------------------------------------------------------


def test_unknown_class_in_grants(pol):
    edit(pol, "grants.toml", 'classes = ["basic", "contract", "service"]', 'classes = ["basic", "contracts", "service"]')
    err = assert_policy_error(pol, "grants.toml: legal.classes: unknown class 'contracts'")
    assert cli_hint(err) == "fix the policy file and try again"


def test_type_in_two_classes(pol):
    edit(pol, "classes.toml", 'types = ["complaint", "survey"]', 'types = ["complaint", "survey", "contract"]')
    assert_policy_error(pol, "classes.toml: service.types: type 'contract' is in two classes (contract, service)")


def test_unknown_action(pol):
    edit(pol, "grants.toml", '[audit]\nclasses = []\nactions = ["audit"]', '[audit]\nclasses = []\nactions = ["audit", "delete"]')
    assert_policy_error(
        pol, "grants.toml: audit.actions: unknown action 'delete' "
             "(known: file, read, search, export, generate, admin, audit)")


def test_unknown_type_in_class(pol):
    edit(pol, "classes.toml", 'types = ["contract", "contract-amendment", "legal-review"]', 'types = ["contracts", "contract-amendment", "legal-review"]')
    assert_policy_error(pol, "classes.toml: contract.types: unknown document type 'contracts' (define it in types.toml)")


def test_type_in_no_class(pol):
    append(pol, "types.toml", '[invoice]\nname = "发票"\n')
    assert_policy_error(pol, "types.toml: invoice: type is in no class (list it in classes.toml)")


def test_type_removed_from_its_class(pol):
    edit(pol, "classes.toml", 'types = ["complaint", "survey"]', 'types = ["complaint"]')
    assert_policy_error(pol, "types.toml: survey: type is in no class (list it in classes.toml)")


def test_unknown_department_in_grants(pol):
    append(pol, "grants.toml", '[sales]\nclasses = ["basic"]\nactions = ["read"]\n')
    assert_policy_error(pol, "grants.toml: sales: unknown department 'sales' (define it in departments.toml)")


@pytest.mark.parametrize("name", [f for f in POLICY_FILES if f not in OPTIONAL_POLICY_FILES])
def test_missing_file(pol, name):
    (pol / name).unlink()
    err = assert_policy_error(pol, f"{name}: file is missing in {pol}")
    assert cli_hint(err) == "run 'archive init' or restore the shipped policies/"


def test_missing_directory(tmp_path):
    missing = tmp_path / "nope"
    assert_policy_error(missing, f"policy directory {missing} does not exist")


@pytest.mark.parametrize("file,text,reason", [
    ("grants.toml", "[legal\nclasses = []\n", "Expected ']' at the end of a table declaration (at line 1, column 7)"),
    ("types.toml", "a = = 1\n", "Invalid value (at line 1, column 5)"),
    ("classes.toml", '[basic]\nname = "x"\ntypes = ["business-license"\n', "Unclosed array (at end of document)"),
])
def test_invalid_toml(pol, file, text, reason):
    (pol / file).write_text(text, encoding="utf-8")
    assert_policy_error(pol, f"{file}: invalid TOML: {reason}")


def test_file_not_utf8(pol):
    (pol / "departments.toml").write_bytes('[legal]\nname = "法务部"\n'.encode("gb18030"))
    with pytest.raises(PolicyError) as exc:
        load_policy(pol)
    assert exc.value.message.startswith("departments.toml: cannot read: ")


@pytest.mark.parametrize("ident", ["Sales", "1sales", "sales_dept", "销售", "-sales", "s" * 41])
def test_invalid_identifier(pol, ident):
    append(pol, "departments.toml", f'["{ident}"]\nname = "x"\n')
    assert_policy_error(pol, f"departments.toml: {ident}: invalid identifier (use lower-case letters, digits and '-')")


def test_identifier_with_trailing_newline_is_invalid(pol):
    """`$` in the identifier pattern also matches before a final newline: "sales\\n" must still be refused."""
    append(pol, "departments.toml", '["sales\\n"]\nname = "x"\n')
    assert_policy_error(pol, "departments.toml: sales\n: invalid identifier (use lower-case letters, digits and '-')")


def test_longest_valid_identifier(pol):
    ident = "s" * 40
    append(pol, "departments.toml", f'[{ident}]\nname = "x"\n')
    assert ident in load_policy(pol).departments


def test_entry_must_be_a_table(pol):
    path = pol / "types.toml"
    path.write_text('invoice = "发票"\n' + path.read_text(encoding="utf-8"), encoding="utf-8")
    assert_policy_error(pol, "types.toml: invoice: must be a table")


@pytest.mark.parametrize("file,old,new,key", [
    ("departments.toml", '[legal]\nname = "法务部"', "[legal]", "legal.name"),
    ("departments.toml", '[legal]\nname = "法务部"', '[legal]\nname = "  "', "legal.name"),
    ("types.toml", '[contract]\nname = "合同"', "[contract]\nname = 3", "contract.name"),
    ("classes.toml", '[contract]\nname = "合同"', "[contract]", "contract.name"),
])
def test_missing_name(pol, file, old, new, key):
    edit(pol, file, old, new)
    assert_policy_error(pol, f"{file}: {key}: missing or empty display name")


@pytest.mark.parametrize("file,old,new,key", [
    ("types.toml", '[contract]\nname = "合同"', '[contract]\nname = "合同"\nlabel = "x"', "contract.label"),
    ("departments.toml", '[legal]\nname = "法务部"', '[legal]\nname = "法务部"\nhead = "x"', "legal.head"),
    ("classes.toml", '[contract]\nname = "合同"', '[contract]\nname = "合同"\nowner = "legal"', "contract.owner"),
    ("grants.toml", '[audit]\nclasses = []', '[audit]\nclass = []\nclasses = []', "audit.class"),
])
def test_unknown_key(pol, file, old, new, key):
    edit(pol, file, old, new)
    assert_policy_error(pol, f"{file}: {key}: unknown key")


def test_class_without_types(pol):
    edit(pol, "classes.toml", 'types = ["requirements", "marketing-review"]\n', "")
    assert_policy_error(pol, "classes.toml: business.types: missing list of document types")


@pytest.mark.parametrize("file,old,new,key", [
    ("classes.toml", 'types = ["requirements", "marketing-review"]', 'types = "requirements"', "business.types"),
    ("classes.toml", 'types = ["requirements", "marketing-review"]', "types = [1]", "business.types"),
    ("grants.toml", '[audit]\nclasses = []', '[audit]\nclasses = "basic"', "audit.classes"),
    ("grants.toml", 'actions = ["audit"]', 'actions = [["audit"]]', "audit.actions"),
])
def test_must_be_list_of_strings(pol, file, old, new, key):
    edit(pol, file, old, new)
    assert_policy_error(pol, f"{file}: {key}: must be a list of strings")


def test_no_class_defined(pol):
    (pol / "types.toml").write_text("", encoding="utf-8")
    (pol / "classes.toml").write_text("# nothing\n", encoding="utf-8")
    assert_policy_error(pol, "classes.toml: no access class is defined")


def test_grant_without_keys_grants_nothing(pol):
    (pol / "profile.toml").unlink()  # it makes marketing an owner of profile fields (tests/policy/test_profile.py)
    (pol / "admission.toml").unlink()  # and a reviewer (tests/policy/test_admission.py)
    edit(pol, "grants.toml", '[marketing]\nclasses = ["basic", "business"]\nactions = ["read", "search"]', "[marketing]")
    policy = load_policy(pol)
    assert policy.grants["marketing"].classes == frozenset()
    assert not policy.allows(["marketing"], "read")
