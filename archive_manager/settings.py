"""Settings: one frozen object built once from defaults, ``archive.toml``, the
environment and command-line flags (in that order of precedence, last wins),
then passed down. No other module reads configuration.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

from archive_manager.crypto.kdf import PROFILES, KdfParams
from archive_manager.errors import UsageError

CONFIG_NAME = "archive.toml"
# The repository's top-level policies/ and templates/ are the shipped defaults.
SHIPPED_DIR = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    home: Path
    vault_dir: Path
    index_dir: Path
    policies_dir: Path
    templates_dir: Path
    audit_dir: Path
    shipped_dir: Path = SHIPPED_DIR
    kdf_profile: str = "default"
    user: str | None = None
    extract_timeout: float = 30.0
    extract_memory_mb: int = 1024
    index_cache_mb: int = 256
    extra: Mapping[str, object] = field(default_factory=dict)

    @property
    def kdf_params(self) -> KdfParams:
        return PROFILES[self.kdf_profile]

    @property
    def audit_log(self) -> Path:
        return self.audit_dir / "events.log"

    @property
    def checkpoints(self) -> Path:
        return self.audit_dir / "checkpoints.log"

    @property
    def config_path(self) -> Path:
        return self.home / CONFIG_NAME

    def with_user(self, user: str | None) -> "Settings":
        return replace(self, user=user)


def _read_config(home: Path) -> dict:
    path = home / CONFIG_NAME
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: invalid TOML: {exc}", hint="fix or remove archive.toml") from None


def _path(home: Path, value: object, key: str) -> Path:
    if not isinstance(value, str) or not value:
        raise UsageError(f"archive.toml: paths.{key}: must be a non-empty string")
    p = Path(value).expanduser()
    return p if p.is_absolute() else home / p


def _table(config: dict, name: str) -> dict:
    value = config.get(name, {})
    if not isinstance(value, dict):
        raise UsageError(f"archive.toml: {name}: must be a table")
    return value


def _number(table: dict, key: str, default: float, section: str, minimum: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise UsageError(f"archive.toml: {section}.{key}: must be a number >= {minimum:g}")
    return float(value)


def load_settings(
    home: str | os.PathLike | None = None,
    env: Mapping[str, str] | None = None,
    user: str | None = None,
) -> Settings:
    """Build the settings for one invocation."""
    env = os.environ if env is None else env
    home_path = Path(home or env.get("ARCHIVE_HOME") or Path.cwd()).expanduser().resolve()
    config = _read_config(home_path)
    paths = config.get("paths", {})
    if not isinstance(paths, dict):
        raise UsageError("archive.toml: paths: must be a table")
    security = config.get("security", {})
    if not isinstance(security, dict):
        raise UsageError("archive.toml: security: must be a table")
    profile = env.get("ARCHIVE_KDF_PROFILE") or security.get("kdf_profile", "default")
    if not isinstance(profile, str) or profile not in PROFILES:
        raise UsageError(
            f"unknown KDF profile {profile!r}", hint="use one of: " + ", ".join(sorted(PROFILES))
        )
    extraction = _table(config, "extraction")
    index = _table(config, "index")
    shipped = Path(env["ARCHIVE_SHIPPED_DIR"]) if env.get("ARCHIVE_SHIPPED_DIR") else SHIPPED_DIR
    return Settings(
        home=home_path,
        vault_dir=_path(home_path, paths.get("vault", "vault"), "vault"),
        index_dir=_path(home_path, paths.get("index", "index"), "index"),
        policies_dir=_path(home_path, paths.get("policies", "policies"), "policies"),
        templates_dir=_path(home_path, paths.get("templates", "templates"), "templates"),
        audit_dir=_path(home_path, paths.get("audit", "audit"), "audit"),
        shipped_dir=shipped,
        kdf_profile=profile,
        extract_timeout=_number(extraction, "timeout_seconds", 30.0, "extraction", 0.1),
        extract_memory_mb=int(_number(extraction, "memory_mb", 1024, "extraction", 64)),
        index_cache_mb=int(_number(index, "cache_mb", 256, "index", 1)),
        user=user or env.get("ARCHIVE_USER") or None,
    )
