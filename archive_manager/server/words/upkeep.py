"""The words of the admin desk's upkeep pages (the inbox's quarantine, the watcher, health)."""

TEXTS: dict[str, dict[str, str]] = {
    "zh": {},
    "en": {},
}
