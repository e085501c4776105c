"""load_settings: defaults, archive.toml, environment, flags (last wins)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from archive_manager.crypto.kdf import PROFILES
from archive_manager.errors import UsageError
from archive_manager.settings import SHIPPED_DIR, load_settings


def write_config(home: Path, text: str) -> None:
    (home / "archive.toml").write_text(text, encoding="utf-8")


def test_defaults(tmp_path):
    s = load_settings(tmp_path, {})
    home = tmp_path.resolve()
    assert s.home == home
    assert s.vault_dir == home / "vault"
    assert s.index_dir == home / "index"
    assert s.policies_dir == home / "policies"
    assert s.templates_dir == home / "templates"
    assert s.kdf_profile == "default"
    assert s.kdf_params == PROFILES["default"]
    assert s.user is None
    assert s.shipped_dir == SHIPPED_DIR
    assert s.config_path == home / "archive.toml"


def test_settings_are_frozen(tmp_path):
    s = load_settings(tmp_path, {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.kdf_profile = "test"  # type: ignore[misc]
    assert s.with_user("bob").user == "bob"
    assert s.user is None


def test_home_from_env_then_flag(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    assert load_settings(None, {"ARCHIVE_HOME": str(a)}).home == a.resolve()
    assert load_settings(b, {"ARCHIVE_HOME": str(a)}).home == b.resolve()


def test_home_defaults_to_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_settings(None, {}).home == tmp_path.resolve()


def test_config_paths_relative_and_absolute(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    write_config(tmp_path, f'[paths]\nvault = "data/v"\nindex = "{elsewhere / "idx"}"\n'
                           'policies = "pol"\ntemplates = "tpl"\n')
    s = load_settings(tmp_path, {})
    home = tmp_path.resolve()
    assert s.vault_dir == home / "data" / "v"
    assert s.index_dir == elsewhere / "idx"
    assert s.policies_dir == home / "pol"
    assert s.templates_dir == home / "tpl"


def test_config_paths_partial(tmp_path):
    write_config(tmp_path, '[paths]\nvault = "v2"\n')
    s = load_settings(tmp_path, {})
    assert s.vault_dir == tmp_path.resolve() / "v2"
    assert s.index_dir == tmp_path.resolve() / "index"


def test_config_path_expands_user(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "userhome"))
    write_config(tmp_path, '[paths]\nvault = "~/vault"\n')
    assert load_settings(tmp_path, {}).vault_dir == tmp_path / "userhome" / "vault"


def test_kdf_profile_precedence(tmp_path):
    write_config(tmp_path, '[security]\nkdf_profile = "test"\n')
    assert load_settings(tmp_path, {}).kdf_profile == "test"
    assert load_settings(tmp_path, {}).kdf_params == PROFILES["test"]
    # environment beats the file
    assert load_settings(tmp_path, {"ARCHIVE_KDF_PROFILE": "default"}).kdf_profile == "default"
    # an empty variable counts as unset
    assert load_settings(tmp_path, {"ARCHIVE_KDF_PROFILE": ""}).kdf_profile == "test"


def test_kdf_profile_from_env_only(tmp_path):
    assert load_settings(tmp_path, {"ARCHIVE_KDF_PROFILE": "test"}).kdf_params == PROFILES["test"]


def test_unknown_profile_from_env(tmp_path):
    with pytest.raises(UsageError) as exc:
        load_settings(tmp_path, {"ARCHIVE_KDF_PROFILE": "fast"})
    assert exc.value.message == "unknown KDF profile 'fast'"
    assert exc.value.hint == "use one of: default, test"


def test_unknown_profile_from_config(tmp_path):
    write_config(tmp_path, '[security]\nkdf_profile = "cheap"\n')
    with pytest.raises(UsageError) as exc:
        load_settings(tmp_path, {})
    assert exc.value.message == "unknown KDF profile 'cheap'"
    # a valid env profile overrides the bad file value
    assert load_settings(tmp_path, {"ARCHIVE_KDF_PROFILE": "test"}).kdf_profile == "test"


def test_user_precedence(tmp_path):
    assert load_settings(tmp_path, {}).user is None
    assert load_settings(tmp_path, {"ARCHIVE_USER": "bob"}).user == "bob"
    assert load_settings(tmp_path, {"ARCHIVE_USER": "bob"}, user="carol").user == "carol"
    assert load_settings(tmp_path, {"ARCHIVE_USER": ""}).user is None


def test_shipped_dir_from_env(tmp_path):
    assert load_settings(tmp_path, {"ARCHIVE_SHIPPED_DIR": str(tmp_path / "s")}).shipped_dir == tmp_path / "s"


def test_env_argument_isolates_from_os_environ(tmp_path, monkeypatch):
    monkeypatch.setenv("ARCHIVE_KDF_PROFILE", "bogus")
    monkeypatch.setenv("ARCHIVE_USER", "mallory")
    s = load_settings(tmp_path, {})
    assert s.kdf_profile == "default"
    assert s.user is None


def test_os_environ_is_the_default(tmp_path, monkeypatch):
    monkeypatch.setenv("ARCHIVE_HOME", str(tmp_path))
    monkeypatch.setenv("ARCHIVE_KDF_PROFILE", "test")
    monkeypatch.setenv("ARCHIVE_USER", "bob")
    s = load_settings()
    assert (s.home, s.kdf_profile, s.user) == (tmp_path.resolve(), "test", "bob")


def test_invalid_toml(tmp_path):
    write_config(tmp_path, "[paths\n")
    with pytest.raises(UsageError) as exc:
        load_settings(tmp_path, {})
    assert exc.value.message.startswith(f"{tmp_path.resolve() / 'archive.toml'}: invalid TOML: ")
    assert exc.value.hint == "fix or remove archive.toml"


@pytest.mark.parametrize("text,message", [
    ('paths = "vault"\n', "archive.toml: paths: must be a table"),
    ('[paths]\nvault = ""\n', "archive.toml: paths.vault: must be a non-empty string"),
    ('[paths]\nindex = 3\n', "archive.toml: paths.index: must be a non-empty string"),
])
def test_bad_paths(tmp_path, text, message):
    write_config(tmp_path, text)
    with pytest.raises(UsageError) as exc:
        load_settings(tmp_path, {})
    assert exc.value.message == message


@pytest.mark.parametrize("text", ['security = "test"\n', '[security]\nkdf_profile = ["test"]\n'],
                         ids=["security-not-a-table", "profile-is-a-list"])
def test_malformed_security_is_a_usage_error(tmp_path, text):
    """A malformed [security] must be a UsageError like a malformed [paths], not a crash."""
    write_config(tmp_path, text)
    with pytest.raises(UsageError):
        load_settings(tmp_path, {})


def test_extraction_and_index_defaults(tmp_path):
    s = load_settings(tmp_path, env={})
    assert (s.extract_timeout, s.extract_memory_mb, s.index_cache_mb) == (30.0, 1024, 256)
    assert s.index_memory_security is False


def test_extraction_and_index_from_config(tmp_path):
    (tmp_path / "archive.toml").write_text(
        "[extraction]\ntimeout_seconds = 2.5\nmemory_mb = 256\n[index]\ncache_mb = 16\nmemory_security = true\n",
        encoding="utf-8")
    s = load_settings(tmp_path, env={})
    assert (s.extract_timeout, s.extract_memory_mb, s.index_cache_mb) == (2.5, 256, 16)
    assert s.index_memory_security is True


@pytest.mark.parametrize("text, message", [
    ("[extraction]\ntimeout_seconds = 0\n", "extraction.timeout_seconds: must be a number >= 0.1"),
    ("[extraction]\nmemory_mb = 'lots'\n", "extraction.memory_mb: must be a number >= 64"),
    ("[extraction]\nmemory_mb = true\n", "extraction.memory_mb: must be a number >= 64"),
    ("[index]\ncache_mb = 0\n", "index.cache_mb: must be a number >= 1"),
    ("[index]\nmemory_security = 'yes'\n", "index.memory_security: must be true or false"),
    ("[index]\nmemory_security = 1\n", "index.memory_security: must be true or false"),
    ("extraction = 3\n", "extraction: must be a table"),
])
def test_bad_extraction_and_index_settings(tmp_path, text, message):
    (tmp_path / "archive.toml").write_text(text, encoding="utf-8")
    with pytest.raises(UsageError) as err:
        load_settings(tmp_path, env={})
    assert err.value.message == f"archive.toml: {message}"


def test_dunning_thresholds_must_increase(tmp_path):
    (tmp_path / "archive.toml").write_text("[dunning]\nthresholds = [30, 10, 60]\n", encoding="utf-8")
    with pytest.raises(UsageError, match="dunning.thresholds"):
        load_settings(tmp_path, {})
