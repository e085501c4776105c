"""archive_manager.process: a process that holds keys leaves no core dump and
cannot be read by other processes of the same user (checked in a child
process, so that this test process keeps its own settings)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

CHECK = """
import ctypes, json, resource, sys
def state():
    dumpable = ctypes.CDLL(None).prctl(3, 0, 0, 0, 0) if sys.platform.startswith("linux") else None
    return {"core": list(resource.getrlimit(resource.RLIMIT_CORE)), "dumpable": dumpable}
before = state()
%s
print(json.dumps({"before": before, "after": state()}))
"""


def run(body: str) -> dict:
    r = subprocess.run([sys.executable, "-c", CHECK % body], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.splitlines()[-1])


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX resource limits")
def test_the_function_turns_core_dumps_off_and_the_process_undumpable():
    r = run("from archive_manager.process import protect_key_memory\nprotect_key_memory()")
    assert r["after"]["core"] == [0, 0]
    if sys.platform.startswith("linux"):
        assert r["before"]["dumpable"] == 1
        assert r["after"]["dumpable"] == 0


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX resource limits")
def test_the_cli_does_it_before_any_command(tmp_path):
    body = f"""
from archive_manager.cli import main
try:
    main(["--home", {str(tmp_path)!r}, "whoami"], standalone_mode=False)
except SystemExit:
    pass
"""
    r = run(body)
    assert r["after"]["core"] == [0, 0]
    if sys.platform.startswith("linux"):
        assert r["after"]["dumpable"] == 0


def test_it_is_idempotent_and_says_what_it_did():
    r = subprocess.run([sys.executable, "-c", "from archive_manager.process import protect_key_memory as p\n"
                        "print(p()); print(p())"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    first, second = r.stdout.splitlines()
    assert first == second
    if sys.platform.startswith("linux"):
        assert first == "('no core dumps', 'not dumpable')"
