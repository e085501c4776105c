"""The words of the audit desk (the log, its details, checkpoints, charts)."""

TEXTS: dict[str, dict[str, str]] = {
    "zh": {},
    "en": {},
}
