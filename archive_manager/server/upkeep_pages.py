"""The admin desk's upkeep pages (archive administrators): the inbox's
quarantine with each file's reason, retry and delete; the watcher's status;
the archive's health (verify, audit verify, index state per class, disk use)."""

from __future__ import annotations

from starlette.routing import Route

ROUTES: list[Route] = []
