"""Two processes appending through the real audit trail of one home at once:
each signs with its own user's keyring and seals details to the audit key;
nothing is lost, sequence numbers are consecutive, the chain verifies, and
each process's events keep their order."""

from __future__ import annotations

import json

from archive_manager import accounts, auditing
from archive_manager.home import ArchiveHome
from archive_manager.settings import load_settings
from tests.audit.processes import run_together
from tests.conftest import make_env

PER_CHILD = 500
WORKERS = ("bob", "carol")  # legal and credit: two users, two signing keys

CHILD = r"""
import sys
from pathlib import Path
from archive_manager.audit.trail import AuditTrail
from archive_manager.home import ArchiveHome
from archive_manager.reporting import ActionEvent
from archive_manager.settings import load_settings

root, user, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
home = ArchiveHome(load_settings(root, {"ARCHIVE_HOME": str(root), "ARCHIVE_KDF_PROFILE": "test"}))
session = home.login(user, user + "-pw")
trail = home.reporter
assert isinstance(trail, AuditTrail), trail
print("ready", flush=True)
sys.stdin.readline()
for i in range(count):
    trail.report(ActionEvent("get", user, session.departments, "ok", {"worker": user, "i": i},
                             {"title": f"{user} 的机密标题 {i}"}), session.signer)
"""


def test_two_processes_appending_through_the_trail_lose_nothing(archive):
    alice = archive.login("alice")
    accounts.add_user(alice, "dave", ["audit"], "dave-pw")  # so that details are sealed, not withheld
    log = archive.home.audit_log()
    before = len(list(log.lines()))

    run_together([[CHILD, str(archive.root), user, str(PER_CHILD)] for user in WORKERS], timeout=120)

    lines = list(log.lines())
    events = [json.loads(line) for line in lines]
    total = before + len(WORKERS) * PER_CHILD
    assert [e["seq"] for e in events] == list(range(1, total + 1))
    assert log.path.read_bytes().count(b"\n") == total
    appended = events[before:]
    for user in WORKERS:
        mine = [e for e in appended if e["objects"].get("worker") == user]
        assert [e["objects"]["i"] for e in mine] == list(range(PER_CHILD))
        assert all(e["user"] == e["signer"] == user and e["sig"] for e in mine)
    assert all(set(e["sealed"]) == {"gen", "ct"} for e in appended)
    assert b"\xe7\x9a\x84\xe6\x9c\xba\xe5\xaf\x86" not in log.path.read_bytes()  # "的机密" never in clear

    home = ArchiveHome(load_settings(archive.root, make_env(archive.root)))  # nobody signed in
    report = auditing.verify_trail(home)
    assert report.ok, report.failure
    assert report.events == total

    dave = archive.login("dave")
    rows = auditing.read_log(dave, auditing.LogFilter(action="get"))
    opened = {(r.objects["worker"], r.objects["i"]): r.details for r in rows}
    assert len(opened) == len(WORKERS) * PER_CHILD
    assert all(opened[(u, i)] == {"title": f"{u} 的机密标题 {i}"} for u in WORKERS for i in range(PER_CHILD))
