"""The words of the admin desk (users, policy, letterhead, the inbox's quarantine, the watcher, health)."""

TEXTS: dict[str, dict[str, str]] = {
    "zh": {},
    "en": {},
}
