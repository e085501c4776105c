"""Shared fixtures: one real extraction worker per test module, under small limits."""

from __future__ import annotations

import time

import pytest

from archive_manager.ingest import Extraction, ExtractionLimits, Extractor

LIMITS = ExtractionLimits(timeout_seconds=5.0, memory_mb=512)
SLACK = 2.0  # seconds beyond the timeout a call may take (kill, reap, restart)


@pytest.fixture(scope="module")
def extractor():
    with Extractor(LIMITS) as ex:
        yield ex


def timed_extract(extractor: Extractor, data: bytes, name: str) -> Extraction:
    """Extract, asserting the call returned within the wall-clock limit."""
    start = time.monotonic()
    result = extractor.extract(data, name)
    elapsed = time.monotonic() - start
    assert elapsed < extractor.limits.timeout_seconds + SLACK, f"took {elapsed:.1f} s"
    return result


def assert_still_works(extractor: Extractor) -> None:
    result = extractor.extract("后续文档仍可提取 still works".encode("utf-8"), "after.txt")
    assert (result.status, result.text) == ("ok", "后续文档仍可提取 still works")
