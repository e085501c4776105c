"""Benchmark: file and read back a large document; MB/s each way and peak RSS.

    .venv/bin/python bench/vault_throughput.py [--size-mib 1024]

Targets (issue 2): >= 300 MB/s each way, peak RSS <= 150 MB. A plain copy of
the same file is timed in the same run, so the figures can be read as ratios
on a noisy machine. Peak RSS is this process's maximum resident set.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from archive_manager import clients, filing, reading  # noqa: E402
from archive_manager.home import ArchiveHome  # noqa: E402
from archive_manager.settings import load_settings  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_source(path: Path, size: int) -> None:
    block = os.urandom(1 << 20)
    with open(path, "wb") as fh:
        for i in range(size // len(block)):
            fh.write(bytes([i & 0xFF]) + block[1:])  # every MiB distinct
        fh.write(block[: size % len(block)])
        fh.flush()
        os.fsync(fh.fileno())  # else its writeback competes with every timed step


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    args = parser.parse_args()
    size = args.size_mib << 20
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        root = Path(tmp) / "home"
        root.mkdir()
        home = ArchiveHome(load_settings(root, {"ARCHIVE_KDF_PROFILE": "test"}))
        home.init("alice", "pw")
        alice = home.login("alice", "pw")
        clients.add_client(alice, "C001", "bench client")
        src = Path(tmp) / "big.bin"
        make_source(src, size)
        rss_before = peak_rss_mb()

        t = time.perf_counter()
        shutil.copyfile(src, Path(tmp) / "copy.bin")
        with open(Path(tmp) / "copy.bin", "rb+") as fh:
            os.fsync(fh.fileno())  # the archive makes its copies durable; so does the baseline
        copy_s = time.perf_counter() - t
        os.unlink(Path(tmp) / "copy.bin")

        t = time.perf_counter()
        doc = filing.file_document(alice, src, "C001", "contract")
        file_s = time.perf_counter() - t

        out = Path(tmp) / "out.bin"
        t = time.perf_counter()
        reading.export_to_path(alice, doc.doc_id, out)
        read_s = time.perf_counter() - t
        same = out.stat().st_size == size
        out.unlink()

        class Sink:  # like `archive get DOC > /dev/null`: verified twice when too big to buffer
            def write(self, data):
                pass

        t = time.perf_counter()
        reading.read_document(alice, doc.doc_id, Sink())
        sink_s = time.perf_counter() - t

    mb = size / 1e6
    print(f"size: {size} bytes ({args.size_mib} MiB); round trip identical size: {same}")
    print(f"plain copy+fsync: {mb / copy_s:8.0f} MB/s ({copy_s:.2f} s)")
    print(f"file (enc)      : {mb / file_s:8.0f} MB/s ({file_s:.2f} s)  = {copy_s / file_s:.2f} x plain copy")
    print(f"get  (dec)      : {mb / read_s:8.0f} MB/s ({read_s:.2f} s)  = {copy_s / read_s:.2f} x plain copy")
    print(f"get to stdout   : {mb / sink_s:8.0f} MB/s ({sink_s:.2f} s)  (two authenticated passes, no disk write)")
    print(f"peak RSS        : {peak_rss_mb():.0f} MB (before filing: {rss_before:.0f} MB)")
    ok = mb / file_s >= 300 and mb / read_s >= 300 and peak_rss_mb() <= 150
    print("targets (>= 300 MB/s each way, peak RSS <= 150 MB):", "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
