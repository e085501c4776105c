"""The words of the receivables pages (ledgers, payments, the overdue batch, the age chart)."""

TEXTS: dict[str, dict[str, str]] = {
    "zh": {},
    "en": {},
}
