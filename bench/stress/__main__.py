"""The stress, fault and attack suite: ``make stress``.

    .venv/bin/python bench/stress [--seed 1] [--only faults,access] [--quick] [--workdir DIR] [--keep]

Seeded and bounded. Runs each section on its own fresh archive (cheap KDF
parameters; the KDF is not what is under test), then looks for canary
strings in every byte those archives and their temp directory hold, and
prints one table. Exits 1 if any required figure is off.

Sections (see each module's docstring):
  faults       SIGKILLs at random points while ingesting and while reindexing
  tamper       flip, truncate and swap every file of vault/, index/, audit/
  badinput     malformed files into a watched inbox
  concurrency  the watcher plus four CLI processes at once
  access       random searches and reads by every department; impersonation
  control      hand edits of users, keys, trust, policy and catalog, then admin work
  plaintext    (always last) canaries absent from every byte at rest
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Context, Table  # noqa: E402

SECTIONS = ["faults", "tamper", "badinput", "concurrency", "access", "control"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench/stress", description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--only", default="", help="comma-separated sections (default: all)")
    ap.add_argument("--quick", action="store_true", help="small counts: a smoke run of the harness")
    ap.add_argument("--workdir", type=Path, help="where the archives go (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the workdir")
    args = ap.parse_args(argv)
    only = [s for s in args.only.split(",") if s] or SECTIONS
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        ap.error(f"unknown section(s): {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    root = args.workdir or Path(tempfile.mkdtemp(prefix="archive-stress-"))
    root.mkdir(parents=True, exist_ok=True)
    table = Table()
    ctx = Context(root, table, args.seed, args.quick)
    # this process's own temp files go where the scan looks too
    own_tmp = root / "tmp"
    own_tmp.mkdir(exist_ok=True)
    os.environ["TMPDIR"] = str(own_tmp)
    tempfile.tempdir = str(own_tmp)
    print(f"stress: seed {args.seed}, {'quick' if args.quick else 'full'} run in {root}", flush=True)
    for name in only:
        start = time.monotonic()
        print(f"\n== {name}", flush=True)
        module = importlib.import_module(name)
        try:
            module.run(ctx)
        except Exception as exc:  # a crash of the harness is itself a failed figure
            import traceback
            traceback.print_exc()
            table.add(name, "section crashed", f"{type(exc).__name__}: {exc}", "no crash", False)
        table.add(name, "wall time", f"{time.monotonic() - start:.1f} s")
    print("\n== plaintext", flush=True)
    import plaintext
    plaintext.scan(ctx)
    print("\n" + table.render())
    failed = table.failed()
    total = time.monotonic() - table.started
    print(f"\n{len(table.rows)} figures, {len(failed)} failed, {total:.0f} s in all; workdir {root}")
    if not args.keep and not args.workdir:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
