"""The words of the paperwork pages (templates, their forms, preview and generation)."""

TEXTS: dict[str, dict[str, str]] = {
    "zh": {},
    "en": {},
}
