"""The process itself, which holds keys and plaintext while a command runs:
no core dump may write them to disk, and no other process of the same user
may read its memory (ptrace, ``/proc/PID/mem``) or dump it."""

from __future__ import annotations

import sys

PR_SET_DUMPABLE = 4  # <linux/prctl.h>


def protect_key_memory() -> tuple[str, ...]:
    """Core dumps off (RLIMIT_CORE 0, hard limit too, so nothing later turns
    them back on) and, on Linux, the process not dumpable. What could be done
    is done; a platform without one of them is not an error. Returns what
    took effect. Children started with exec become dumpable again (the
    kernel resets the flag): a child that holds secrets calls this itself."""
    done = []
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        done.append("no core dumps")
    except (ImportError, ValueError, OSError):  # not POSIX, or a limit we may not lower
        pass
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            zero = ctypes.c_ulong(0)
            if libc.prctl(PR_SET_DUMPABLE, zero, zero, zero, zero) == 0:
                done.append("not dumpable")
        except (OSError, AttributeError):  # no libc to ask (static or unusual builds)
            pass
    return tuple(done)


__all__ = ["protect_key_memory"]
