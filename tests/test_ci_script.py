"""``.ci/run`` is what CI runs on a clean clone: a shell script that must parse
(a bad edit once broke it and CI failed after 2 s, before any test ran), must
be executable, and must end in ``make test``."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parent.parent / ".ci" / "run"


def test_the_ci_script_parses():
    bash = shutil.which("bash")
    if bash is None:
        pytest.fail("bash is needed to run .ci/run")
    result = subprocess.run([bash, "-n", str(RUN)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_ci_script_is_executable_and_runs_make_test():
    assert os.access(RUN, os.X_OK)
    lines = [line.strip() for line in RUN.read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    assert lines[0] == "set -euo pipefail"
    assert lines[-1] == "make test"
