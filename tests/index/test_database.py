"""SQLCipher's memory security follows ``[index] memory_security``.

It is process-wide in SQLCipher and cannot be turned off once on, so each
case runs in a new interpreter: turning it on here would also slow every
later test of this process.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from archive_manager.settings import load_settings
    from archive_manager.searching import open_class_index
    from archive_manager.index import IndexKeys
    home = Path(sys.argv[1])
    settings = load_settings(home, {})
    key = os.urandom(32)
    index = open_class_index(settings, "vault-test", "contract", IndexKeys(1, lambda g: key), os.urandom)
    settings.index_dir.mkdir(parents=True, exist_ok=True)
    index.create_empty()  # a new database, then opened again for the search
    con = index.connection()
    print(con.execute("PRAGMA cipher_memory_security").fetchone()[0])
""")


def probe(home: Path, config: str) -> str:
    home.mkdir()
    (home / "archive.toml").write_text(config, encoding="utf-8")
    r = subprocess.run([sys.executable, "-c", PROBE, str(home)], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


@pytest.mark.parametrize("config, expected", [
    ("", "0"),  # the default, as in SQLCipher itself since 4.5
    ("[index]\nmemory_security = false\n", "0"),
    ("[index]\nmemory_security = true\n", "1"),
])
def test_memory_security_follows_the_setting(tmp_path, config, expected):
    assert probe(tmp_path / "home", config) == expected
