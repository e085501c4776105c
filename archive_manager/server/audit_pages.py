"""The audit desk (auditors): the log as a filterable table, an event's sealed details, CSV, the chain's verification and checkpoints, charts."""

from __future__ import annotations

from starlette.routing import Route

ROUTES: list[Route] = []
