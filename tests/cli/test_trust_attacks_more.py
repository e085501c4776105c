"""More attacks on the plaintext control files (attacker holds no passphrase).

Each test plants one edit, then alice (an administrator) runs a routine
command: it must refuse cleanly and seal no key to anyone new.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def _read(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def _write(path: Path, data) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")


def _sealed_names(cli) -> set[str]:
    data = _read(cli.home / "vault" / "keys.json")
    return {u for c in data["classes"].values() for g in c["gens"].values() for u in g}


def _kem_swap(cli):
    path = cli.home / "vault" / "users.json"
    data = _read(path)
    data["users"]["bob"]["keyring"]["kem_public"] = data["users"]["carol"]["keyring"]["kem_public"]
    _write(path, data)


def _lookalike(cli):
    path = cli.home / "vault" / "users.json"
    data = _read(path)
    data["users"]["b\u043eb"] = data["users"]["bob"]  # Cyrillic o
    _write(path, data)


def _pending_only(cli):
    path = cli.home / "vault" / "keys.json"
    data = _read(path)
    data["pending_rotation"] = sorted(data["classes"])
    _write(path, data)


def _log_path_not_a_string(cli):
    path = cli.home / "vault" / "trust.json"
    data = _read(path)
    data["log"]["path"] = ["../audit/events.log"]
    _write(path, data)


@pytest.mark.parametrize("tamper", [_kem_swap, _lookalike, _pending_only, _log_path_not_a_string])
@pytest.mark.parametrize("command", [("policy", "sync"), ("reindex",)])
def test_forged_control_record_is_refused(cli, tamper, command):
    before = _sealed_names(cli)
    tamper(cli)
    r = cli.run(*command, user="alice")
    assert r.exit_code == 5, r.output
    assert _sealed_names(cli) == before


def test_deleted_trust_anchor_is_refused(cli):
    (cli.home / "vault" / "trust.json").unlink()
    before = _sealed_names(cli)
    pw = cli.passfile("eve", "eve-pw")
    r = cli.run("user", "add", "eve", "--dept", "legal", "--new-passphrase-file", pw, user="alice")
    assert r.exit_code != 0, r.output
    assert _sealed_names(cli) == before
