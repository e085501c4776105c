"""A client's decisions: the signed, hash-chained record of what was decided
about the client (its application and every review opinion, its admission,
changes of status and credit, approved contract amendments), kept with the
profile in the client's basic slot and checked entry by entry."""

from archive_manager.decisions.chain import (KINDS, DecisionError, append_entry, check_links, entry_hash,
                                             signed_bytes)
from archive_manager.decisions.standing import (Application, Credit, Opinion, Standing, replay)

__all__ = ["KINDS", "Application", "Credit", "DecisionError", "Opinion", "Standing", "append_entry", "check_links",
           "entry_hash", "replay", "signed_bytes"]
