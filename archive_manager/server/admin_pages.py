"""The admin desk (archive administrators): users, the policy and its signed sync, the letterhead, the inbox's quarantine, the watcher, the archive's health."""

from __future__ import annotations

from starlette.routing import Route

ROUTES: list[Route] = []
