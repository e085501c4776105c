"""The extraction worker: a child process that confines itself (address space,
CPU time, no core dumps), then answers requests on its pipes until stdin closes.

Request: one JSON line ``{"name": ..., "size": N, "id": K}`` followed by N raw bytes.
Reply: one JSON line, an :class:`Extraction` as a dict plus ``"restart": bool``
(true when the worker is about to exit, e.g. after a MemoryError) and the
request's ``"id"``, so a late reply can never be taken for another document's.
Documents and text travel only through the pipes, never through files, except
for the formats LibreOffice converts (``legacy.py``): their copies live in the
worker's private ``TMPDIR`` for the conversion and are removed after it (and the
whole directory by the caller when the worker stops; see ``scratch.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from archive_manager.ingest.model import ExtractionLimits, failed, memory_reason
from archive_manager.process import protect_key_memory

MAX_HEADER = 64 << 10
CPU_MARGIN = 10  # CPU seconds beyond the wall-clock limit before SIGXCPU


def parse_limits(argv: list[str]) -> ExtractionLimits:
    parser = argparse.ArgumentParser(prog="archive_manager.ingest.worker")
    parser.add_argument("--timeout", type=float, default=ExtractionLimits.timeout_seconds)
    parser.add_argument("--memory-mb", type=int, default=ExtractionLimits.memory_mb)
    parser.add_argument("--max-bytes", type=int, default=ExtractionLimits.max_bytes)
    parser.add_argument("--max-chars", type=int, default=ExtractionLimits.max_chars)
    parser.add_argument("--ocr-pages", type=int, default=ExtractionLimits.ocr_pages)
    parser.add_argument("--ocr-megapixels", type=int, default=ExtractionLimits.ocr_megapixels)
    parser.add_argument("--ocr-page-seconds", type=float, default=ExtractionLimits.ocr_page_seconds)
    args = parser.parse_args(argv)
    return ExtractionLimits(args.timeout, args.memory_mb, args.max_bytes, args.max_chars,
                            args.ocr_pages, args.ocr_megapixels, args.ocr_page_seconds)


def confine(limits: ExtractionLimits) -> None:
    """The address space: ``memory_mb`` for the worker itself (soft limit); the
    hard limit is LibreOffice's (``legacy.office_memory_mb``), to which the
    worker raises only the LibreOffice process it starts. Code that took over
    the worker could raise its own soft limit that far too: still a bound."""
    import resource

    from archive_manager.ingest.legacy import office_memory_mb

    _lower(resource, resource.RLIMIT_AS, limits.memory_mb << 20, office_memory_mb(limits) << 20)
    _lower(resource, resource.RLIMIT_CORE, 0)
    arm_cpu_limit(limits)


def _lower(resource, which: int, value: int, ceiling: int | None = None) -> None:
    """Soft limit ``value``, hard limit ``ceiling`` (default ``value``); never above the current hard limit."""
    soft, hard = resource.getrlimit(which)
    ceiling = value if ceiling is None else max(value, ceiling)
    if hard != resource.RLIM_INFINITY:
        value, ceiling = min(value, hard), min(ceiling, hard)
    resource.setrlimit(which, (value, ceiling))


def arm_cpu_limit(limits: ExtractionLimits) -> None:
    """A CPU-time backstop for this request, should the parent's clock fail: SIGXCPU."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    budget = int(usage.ru_utime + usage.ru_stime + limits.timeout_seconds + CPU_MARGIN) + 1
    _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        budget = min(budget, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (budget, hard))


def quiet() -> None:
    """Library warnings and logs go nowhere; stray prints go to stderr, not the reply pipe."""
    import logging
    import warnings

    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)
    sys.stdout = sys.stderr


def serve(limits: ExtractionLimits, requests, replies) -> None:
    from archive_manager.ingest.dispatch import extract_document
    from archive_manager.ingest.formats import detect_format

    while True:
        line = requests.readline(MAX_HEADER)
        if not line:
            return
        header = json.loads(line)
        size, name = int(header["size"]), str(header["name"])
        data = requests.read(size)
        if len(data) != size:
            return
        arm_cpu_limit(limits)
        try:
            reply, restart = extract_document(data, name, limits).to_dict(), False
        except MemoryError:
            reply, restart = failed(detect_format(name, data[:8192]), memory_reason(limits)).to_dict(), True
        del data
        replies.write(json.dumps({**reply, "restart": restart, "id": header.get("id")}).encode("ascii") + b"\n")
        replies.flush()
        if restart:
            return


def main(argv: list[str] | None = None) -> int:
    limits = parse_limits(sys.argv[1:] if argv is None else argv)
    confine(limits)
    protect_key_memory()  # it holds documents' plaintext; exec made it dumpable again
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    quiet()
    serve(limits, sys.stdin.buffer, replies)
    return 0


if __name__ == "__main__":
    sys.exit(main())
