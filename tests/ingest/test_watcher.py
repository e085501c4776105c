"""What the inbox's file-system events say to the settle tracker: a write, and
the close after it, where the kernel reports closes (inotify); only "look
here" where it does not (polling); lost events ask for a rescan and forget
the writers known from events."""

from __future__ import annotations

import queue
import sys
from pathlib import Path

import pytest
from watchdog.events import (DirCreatedEvent, EventsLostEvent, FileClosedEvent, FileClosedNoWriteEvent,
                             FileCreatedEvent, FileDeletedEvent, FileModifiedEvent, FileMovedEvent,
                             FileOpenedEvent)

from archive_manager.ingest.tracker import CLOSED, LOST, SEEN, WRITTEN
from archive_manager.ingest.watcher import InboxEvents, _Handler
from tests.ingest.inbox_helpers import wait_until

A = "/inbox/C001/contract/a.pdf"


def said(events, close_events: bool):
    q: queue.SimpleQueue = queue.SimpleQueue()
    handler = _Handler(q, close_events)
    for e in events:
        handler.on_any_event(e)
    out = []
    while not q.empty():
        out.append(q.get())
    return out


def test_with_close_events_a_write_and_its_close_are_told_apart():
    assert said([FileCreatedEvent(A), FileModifiedEvent(A), FileClosedEvent(A)], True) == [
        (SEEN, Path(A)), (WRITTEN, Path(A)), (CLOSED, Path(A))]


def test_without_close_events_a_write_only_says_look_here():
    assert said([FileModifiedEvent(A)], False) == [(SEEN, Path(A))]


def test_opens_reads_and_deletions_say_nothing():
    assert said([FileOpenedEvent(A), FileClosedNoWriteEvent(A), FileDeletedEvent(A)], True) == []


def test_a_move_says_look_at_both_names():
    assert said([FileMovedEvent(A + ".part", A)], True) == [(SEEN, Path(A + ".part")), (SEEN, Path(A))]


def test_a_new_directory_asks_for_a_rescan_and_lost_events_forget_writers():
    from archive_manager.ingest.watcher import RESCAN
    assert said([DirCreatedEvent("/inbox/C002")], True) == [(SEEN, RESCAN)]
    assert said([EventsLostEvent("/inbox", is_directory=True)], True) == [(LOST, RESCAN)]


def drain_until(events: InboxEvents, want, timeout: float = 5.0) -> list:
    got: list = []

    def more():
        changes, _ = events.drain()
        got.extend(changes)
        return want(got)

    wait_until(more, timeout)
    return got


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify reports closes")
def test_inotify_reports_a_write_then_the_close(tmp_path):
    path = tmp_path / "a.pdf"
    with InboxEvents(tmp_path) as events:
        assert events.close_events
        with open(path, "wb") as fh:
            fh.write(b"first")
            fh.flush()
            got = drain_until(events, lambda g: (WRITTEN, path) in g)
            assert (WRITTEN, path) in got and (CLOSED, path) not in got
        got = drain_until(events, lambda g: (CLOSED, path) in g)
        assert (CLOSED, path) in got
        with open(path, "rb") as fh:  # a reader's close says nothing
            fh.read()
        assert drain_until(events, lambda g: False, timeout=0.2) == []


def test_polling_reports_no_closes(tmp_path):
    assert not InboxEvents(tmp_path, polling=True).close_events
