"""Settings: one frozen object built once from defaults, ``archive.toml``, the
environment and command-line flags (in that order of precedence, last wins),
then passed down. No other module reads configuration.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Mapping

from archive_manager.crypto.kdf import PROFILES, KdfParams
from archive_manager.errors import UsageError

CONFIG_NAME = "archive.toml"
# Where an installed package carries the shipped defaults (setup.py puts them there).
PACKAGED_DEFAULTS = "shipped"


def find_shipped_dir(package: Path | None = None) -> Path:
    """The directory that holds the shipped defaults, ``policies/`` and
    ``templates/``. The repository's top-level ``policies/`` and ``templates/``
    are their only copy: building a wheel copies them into the package as
    ``archive_manager/shipped/`` (setup.py), which is where an installed
    package has them; a source checkout, and an editable install of one
    (``pip install -e .``), has them beside the package. Inside the package
    comes first; where neither has them, the place inside the package is
    returned, for ``init`` to say they are missing there. ``package``: the
    package's directory (default: this one's)."""
    package = Path(resources.files(__package__)) if package is None else package
    for candidate in (package / PACKAGED_DEFAULTS, package.parent):
        if (candidate / "policies").is_dir() and (candidate / "templates").is_dir():
            return candidate
    return package / PACKAGED_DEFAULTS


SHIPPED_DIR = find_shipped_dir()


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
    ocr_enabled: bool = True  # [ocr] enabled: read scans once filed (with the ocr extra installed)
    ocr_timeout: float = 600.0  # [ocr] timeout_seconds: per document
    ocr_memory_mb: int = 1536  # [ocr] memory_mb: the OCR worker's address space
    ocr_max_pages: int = 100  # [ocr] max_pages: scanned pages per document; more are not read
    ocr_max_megapixels: int = 60  # [ocr] max_megapixels: per page, checked before decoding
    ocr_page_seconds: float = 60.0  # [ocr] page_seconds: a page is begun only while this much time is left
    index_cache_mb: int = 256
    index_memory_security: bool = False  # SQLCipher's cipher_memory_security (index.database.connect)
    inbox_dir: Path | None = None  # default: <home>/inbox
    inbox_quiet: float = 2.0  # seconds a file must be unchanged before it is taken
    inbox_rescan: float = 60.0  # seconds between full rescans while watching
    inbox_max_mb: int = 1024  # larger files are quarantined
    inbox_batch: int = 50  # documents per index commit while ingesting
    service_user: str | None = None  # the user 'ingest' and 'watch' act as
    service_passphrase_file: Path | None = None
    # [company]: the letterhead as archives before the signed one kept it; read only by the policy
    # sync, which takes it over into policies/company.toml (paperwork prints the signed one)
    company: Mapping[str, str] = field(default_factory=dict)
    dunning_thresholds: tuple[int, int, int] = (1, 30, 60)  # days overdue that reach dunning levels 1, 2, 3
    dunning_gap_days: int = 14  # after a letter, days before the next one goes up a level
    server_idle_minutes: float = 15.0  # a sign-in without a request this long ends
    server_absolute_hours: float = 8.0  # a sign-in ends this long after it began, whatever happens
    server_trusted_proxies: tuple[str, ...] = ()  # addresses whose X-Forwarded-For is believed
    server_time_zone: str = "Asia/Shanghai"  # times shown on the pages
    extra: Mapping[str, object] = field(default_factory=dict)

    @property
    def kdf_params(self) -> KdfParams:
        return PROFILES[self.kdf_profile]

    @property
    def inbox(self) -> Path:
        return self.inbox_dir if self.inbox_dir is not None else self.home / "inbox"

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


def _flag(table: dict, key: str, default: bool, section: str) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise UsageError(f"archive.toml: {section}.{key}: must be true or false")
    return value


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
    inbox = _table(config, "inbox")
    company = _table(config, "company")
    dunning = _table(config, "dunning")
    server = _table(config, "server")
    ocr = _table(config, "ocr")
    proxies = server.get("trusted_proxies", [])
    if not (isinstance(proxies, list) and all(isinstance(a, str) and a for a in proxies)):
        raise UsageError("archive.toml: server.trusted_proxies: must be a list of addresses, e.g. [\"127.0.0.1\"]")
    thresholds = dunning.get("thresholds", [1, 30, 60])
    if not (isinstance(thresholds, list) and len(thresholds) == 3
            and all(type(t) is int for t in thresholds) and 0 < thresholds[0] < thresholds[1] < thresholds[2]):
        raise UsageError("archive.toml: dunning.thresholds: must be three increasing day counts, e.g. [1, 30, 60]")
    if not all(isinstance(v, str) for v in company.values()):
        raise UsageError("archive.toml: company: every value must be a string")
    for key in ("user", "passphrase_file", "path"):
        if key in inbox and (not isinstance(inbox[key], str) or not inbox[key]):
            raise UsageError(f"archive.toml: inbox.{key}: must be a non-empty string")
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
        ocr_enabled=_flag(ocr, "enabled", True, "ocr"),
        ocr_timeout=_number(ocr, "timeout_seconds", 600.0, "ocr", 1.0),
        ocr_memory_mb=int(_number(ocr, "memory_mb", 1536, "ocr", 256)),
        ocr_max_pages=int(_number(ocr, "max_pages", 100, "ocr", 1)),
        ocr_max_megapixels=int(_number(ocr, "max_megapixels", 60, "ocr", 1)),
        ocr_page_seconds=_number(ocr, "page_seconds", 60.0, "ocr", 1.0),
        index_cache_mb=int(_number(index, "cache_mb", 256, "index", 1)),
        index_memory_security=_flag(index, "memory_security", False, "index"),
        inbox_dir=_path(home_path, inbox["path"], "inbox.path") if "path" in inbox else None,
        inbox_quiet=_number(inbox, "quiet_seconds", 2.0, "inbox", 0.0),
        inbox_rescan=_number(inbox, "rescan_seconds", 60.0, "inbox", 1.0),
        inbox_max_mb=int(_number(inbox, "max_file_mb", 1024, "inbox", 1)),
        inbox_batch=int(_number(inbox, "batch", 50, "inbox", 1)),
        service_user=inbox.get("user"),
        company=dict(company),
        dunning_thresholds=tuple(thresholds),
        dunning_gap_days=int(_number(dunning, "min_gap_days", 14, "dunning", 0)),
        server_idle_minutes=_number(server, "idle_minutes", 15.0, "server", 1),
        server_absolute_hours=_number(server, "absolute_hours", 8.0, "server", 0.1),
        server_trusted_proxies=tuple(proxies),
        server_time_zone=str(server.get("time_zone", "Asia/Shanghai")),
        service_passphrase_file=_path(home_path, inbox["passphrase_file"], "inbox.passphrase_file")
        if "passphrase_file" in inbox else None,
        user=user or env.get("ARCHIVE_USER") or None,
    )
