"""``archive serve --check``: what in this deployment would let a user read
without the server, and so without an audit event. Each finding is a
problem (exit 1), a warning, or fine."""

from __future__ import annotations

import ipaddress
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from archive_manager.home import ArchiveHome

LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class Finding:
    level: str  # "ok" | "warning" | "problem"
    subject: str
    message: str


def _mode(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return stat.S_IMODE(st.st_mode), st.st_uid


def _loopback(host: str) -> bool:
    if host in LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_deployment(home: ArchiveHome, host: str, tls: bool, uid: int | None = None) -> list[Finding]:
    uid = os.getuid() if uid is None else uid
    s = home.settings
    out: list[Finding] = []
    if not (s.vault_dir / "vault.json").is_file():
        return [Finding("problem", "archive", f"no archive in {s.home} (no {s.vault_dir / 'vault.json'})")]
    places = {"home": s.home, "vault": s.vault_dir, "index": s.index_dir, "audit": s.audit_dir}
    for name, path in places.items():
        got = _mode(path)
        if got is None:
            out.append(Finding("problem", name, f"{path} does not exist or cannot be read"))
            continue
        mode, owner = got
        if owner != uid:
            out.append(Finding("problem", name, f"{path} is owned by uid {owner}, not by the server's account "
                                                f"(uid {uid}): that account must own the archive's files"))
        elif mode & 0o077:
            out.append(Finding("problem", name, f"{path} has mode {mode:o}: others can reach it; "
                                                f"run 'chmod -R go-rwx {path}'"))
        else:
            out.append(Finding("ok", name, f"{path}: {mode:o}, owned by the server's account"))
    loose = [p for p in _walk(s.vault_dir, s.index_dir, s.audit_dir) if (_mode(p) or (0, uid))[0] & 0o077]
    if loose:
        out.append(Finding("problem", "files", f"{len(loose)} file(s) readable by others, e.g. {loose[0]}"))
    if _loopback(host):
        out.append(Finding("ok", "bind", f"{host}: only this machine (a reverse proxy in front)"))
    elif tls:
        out.append(Finding("ok", "bind", f"{host} with TLS"))
    else:
        out.append(Finding("problem", "bind", f"{host} without TLS: passphrases and documents would cross the "
                                              "network in clear; give --tls-cert/--tls-key or bind 127.0.0.1 "
                                              "behind a TLS proxy"))
    if _loopback(host) and not tls and not s.server_trusted_proxies:
        out.append(Finding("warning", "proxy", "no [server] trusted_proxies: behind a reverse proxy every event "
                                               "would record the proxy's address, not the user's"))
    if s.service_passphrase_file is not None:
        got = _mode(s.service_passphrase_file)
        if got is not None and got[0] & 0o077:
            out.append(Finding("problem", "inbox", f"{s.service_passphrase_file} (the inbox account's passphrase) "
                                                   f"has mode {got[0]:o}; make it 0600"))
    if os.environ.get("ARCHIVE_PASSPHRASE"):
        out.append(Finding("warning", "environment", "ARCHIVE_PASSPHRASE is set in the server's environment: "
                                                     "use [inbox] passphrase_file for the inbox account"))
    if s.kdf_profile != "default":
        out.append(Finding("problem", "kdf", f"KDF profile {s.kdf_profile!r}: keyrings made now are cheap to "
                                             "guess; real archives use 'default'"))
    return out


def _walk(*roots: Path):
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in filenames:
                yield Path(dirpath) / name
