"""The paperwork pages (legal, credit): a page per template with its form, a preview, generation filed back into the dossier."""

from __future__ import annotations

from starlette.routing import Route

ROUTES: list[Route] = []
