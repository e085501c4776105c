"""The vault: dossiers, documents and versions, encrypted at rest."""

from archive_manager.vault.store import Vault

__all__ = ["Vault"]
