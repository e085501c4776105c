"""The receivables pages (credit): the ledger per client and for all clients, invoices and payments, the overdue batch with its preview, receivables by age."""

from __future__ import annotations

from starlette.routing import Route

ROUTES: list[Route] = []
