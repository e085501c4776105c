"""Child processes that start appending together (a barrier over pipes)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def run_together(args_per_child: list[list[str]], timeout: float) -> None:
    """Start ``python -c ...`` children; each prints "ready" once set up and
    waits for "go"; all get "go" together; each must exit 0."""
    procs = [subprocess.Popen([sys.executable, "-c", *args], cwd=REPO, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True) for args in args_per_child]
    try:
        for p in procs:
            assert p.stdout.readline() == "ready\n"
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        for p in procs:
            p.stdin.close()
            assert p.wait(timeout=timeout) == 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
