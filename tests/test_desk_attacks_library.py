"""Attacks on the audit desk's library (issue 19): filter bounds at the ends
of the calendar must be a UsageError (a 400 on the page), never an
OverflowError (a 500)."""

from __future__ import annotations

from datetime import date

import pytest

from archive_manager.audit.figures import FigureCounter
from archive_manager.audit.filters import LogFilter
from archive_manager.errors import UsageError


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "UTC", "Pacific/Kiritimati", "Etc/GMT+12"])
@pytest.mark.parametrize("bounds", [{"until": "9999-12-31"}, {"since": "0001-01-01"},
                                    {"until": "9999-12-31T23:59"}, {"since": "0001-01-01T00:00"},
                                    {"since": "9999-12-31T23:59:59+00:00"}])
def test_calendar_ends_are_a_usage_error(zone, bounds):
    try:
        LogFilter(zone=zone, **bounds)
    except UsageError:
        pass  # refused with a message: fine (accepting it is fine too)


def test_figures_up_to_the_last_day_are_a_usage_error_or_work():
    try:
        FigureCounter(date(9999, 12, 2), date(9999, 12, 31), __import__("zoneinfo").ZoneInfo("Asia/Shanghai"),
                      "Asia/Shanghai")
    except UsageError:
        pass
