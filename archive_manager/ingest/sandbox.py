"""The caller's side: :class:`Extractor` sends documents to a long-lived worker
process over pipes and enforces the wall-clock limit. A worker that overruns is
killed; one that dies, lies or hangs is replaced on the next call. The caller
never blocks past the deadline and never sees an exception for a bad document."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import BinaryIO, Sequence

from archive_manager.ingest import scratch
from archive_manager.ingest.dispatch import precheck
from archive_manager.ingest.legacy import office_memory_mb
from archive_manager.ingest.model import (Extraction, ExtractionLimits, failed, limits_argv, memory_reason,
                                          timeout_reason)

HEAD_BYTES = 1 << 16  # enough to tell the format of a file too large to extract
RECYCLE_AFTER = 500  # documents per worker process
CHUNK = 1 << 20
STDERR_TAIL = 8192
MAX_NAME = 1024
# what the worker inherits: no passphrases or other secrets for a parser to leak
_ENV_KEEP = {"PATH", "LANG", "LANGUAGE", "TMPDIR", "PYTHONPATH", "PYTHONHASHSEED", "SYSTEMROOT"}
_MEMORY_SIGNS = ("MemoryError", "bad_alloc", "Cannot allocate memory", "out of memory")


class WorkerFailure(Exception):
    """The exchange with the worker went wrong; ``reason`` is for humans."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Extractor:
    """Extracts text through one worker process at a time; calls from several threads
    are served one after the other (use one Extractor per thread to run in parallel)."""

    def __init__(self, limits: ExtractionLimits = ExtractionLimits(),
                 worker_argv: Sequence[str] | None = None) -> None:
        self.limits = limits
        self._custom_argv = worker_argv is not None
        self._argv = list(worker_argv) if worker_argv is not None else [
            sys.executable, "-m", "archive_manager.ingest.worker", *limits_argv(limits)]
        self._proc: subprocess.Popen | None = None
        self._scratch: Path | None = None  # the worker's private TMPDIR (scratch.py)
        self._forget: weakref.finalize | None = None  # removes it if this object is dropped
        self._served = 0
        self._requests = 0
        self._stderr = bytearray()
        self._lock = threading.Lock()

    def __enter__(self) -> Extractor:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def extract(self, data: bytes, name: str) -> Extraction:
        """Never raises for a bad document, and returns within the wall-clock limit."""
        data = data if isinstance(data, bytes) else bytes(data)
        fmt, answer = precheck(data, name, self.limits)
        if answer is not None:
            return answer
        with self._lock:
            try:
                return self._exchange(data, name)
            except WorkerFailure as exc:
                return failed(fmt, exc.reason)
            except Exception as exc:  # noqa: BLE001 - e.g. the worker cannot start
                self._stop(kill=True)
                return failed(fmt, f"extraction worker failed: {exc}")
            except BaseException:  # interrupted mid-request: its reply must never answer the next one
                self._stop(kill=True)
                raise

    def extract_file(self, path: str | os.PathLike) -> Extraction:
        """Like :meth:`extract` for a file on disk; a file too large to extract
        is answered from its head alone, without reading the rest."""
        with open(path, "rb") as fh:
            return self.extract_stream(fh, Path(path).name, os.fstat(fh.fileno()).st_size)

    def extract_stream(self, fh: BinaryIO, name: str, size: int) -> Extraction:
        """Like :meth:`extract_file` for a file already open (read from where
        ``fh`` stands), of ``size`` bytes."""
        head = fh.read(HEAD_BYTES)
        if size > self.limits.max_bytes:
            return precheck(head, name, self.limits, size)[1]
        return self.extract(head + fh.read(), name)

    def close(self) -> None:
        with self._lock:
            self._stop(kill=False)

    # -- worker lifecycle ---------------------------------------------------------------

    def _worker(self) -> subprocess.Popen:
        proc = self._proc
        if proc is not None and (proc.poll() is not None or self._served >= RECYCLE_AFTER):
            self._stop(kill=False)
        if self._proc is None:
            self._proc = self._spawn()
            self._served = 0
        return self._proc

    def _spawn(self) -> subprocess.Popen:
        env = _worker_environment()
        root = Path(__file__).resolve().parents[2]
        if not self._custom_argv and root.name not in ("site-packages", "dist-packages"):
            # a source checkout: let the worker import this very package
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
        self._scratch = scratch.make(env.get("TMPDIR"))
        env["TMPDIR"] = str(self._scratch)
        # an Extractor dropped without close(), or alive at exit, still removes it
        self._forget = weakref.finalize(self, scratch.remove, self._scratch)
        try:
            proc = subprocess.Popen(self._argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, bufsize=0, close_fds=True,
                                    start_new_session=True, env=env)
        except BaseException:
            self._forget()
            self._scratch = None
            raise
        _limit_memory(proc.pid, self.limits.memory_mb << 20, office_memory_mb(self.limits) << 20)
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            os.set_blocking(pipe.fileno(), False)
        return proc

    def _stop(self, kill: bool) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if not kill:
            _close(proc.stdin)
            try:
                proc.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                kill = True
        if kill and proc.poll() is None:
            _kill_group(proc)
        proc.wait()
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            _close(pipe)
        work, self._scratch = self._scratch, None
        self._forget.detach()
        scratch.remove(work, group=proc.pid)  # once LibreOffice, in the worker's group, is gone too

    # -- one request --------------------------------------------------------------------

    def _exchange(self, data: bytes, name: str) -> Extraction:
        proc = self._worker()
        self._stderr.clear()
        name = str(name)[-MAX_NAME:]  # the worker needs the extension, not a novel
        self._requests += 1
        request_id = self._requests
        header = json.dumps({"name": name, "size": len(data), "id": request_id}).encode("ascii") + b"\n"
        deadline = time.monotonic() + self.limits.timeout_seconds
        line = self._talk(proc, [memoryview(header), memoryview(data)], deadline)
        try:
            reply = json.loads(line)
            result = Extraction.from_dict(reply)
            if reply.get("id") != request_id:
                raise ValueError("a reply to another request")
        except (ValueError, TypeError, AttributeError):
            self._stop(kill=True)
            raise WorkerFailure("extraction worker sent an invalid reply") from None
        self._served += 1
        if reply.get("restart") is True:
            self._stop(kill=False)
        return result

    def _talk(self, proc: subprocess.Popen, outgoing: list[memoryview], deadline: float) -> bytes:
        """Write the request and read one reply line, all before ``deadline``."""
        reply = bytearray()
        limit = self.limits.max_chars * 12 + (1 << 20)  # ASCII JSON of max_chars characters fits
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            sel.register(proc.stderr, selectors.EVENT_READ)
            sel.register(proc.stdin, selectors.EVENT_WRITE)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._stop(kill=True)
                    raise WorkerFailure(timeout_reason(self.limits))
                for key, _events in sel.select(remaining):
                    if key.fileobj is proc.stdin:
                        if not _write_some(proc.stdin, outgoing):
                            sel.unregister(proc.stdin)
                    elif key.fileobj is proc.stderr:
                        if not self._drain_stderr(proc):
                            sel.unregister(proc.stderr)
                    else:
                        self._read_reply(proc, reply, outgoing, limit, deadline)
                        if reply.endswith(b"\n"):
                            return bytes(reply)

    def _read_reply(self, proc, reply: bytearray, outgoing: list[memoryview], limit: int,
                    deadline: float) -> None:
        chunk = _read(proc.stdout)
        if chunk == b"":
            self._drain_stderr(proc)
            raise WorkerFailure(self._death_reason(proc, deadline))
        reply += chunk or b""
        newline = reply.find(b"\n")
        if newline == -1 and len(reply) <= limit:
            return
        if newline != len(reply) - 1 or outgoing or len(reply) > limit:
            self._stop(kill=True)  # replied before reading everything, or said too much
            raise WorkerFailure("extraction worker sent an invalid reply")

    def _drain_stderr(self, proc: subprocess.Popen) -> bool:
        """Keep the tail of the worker's stderr (never shown; used to explain a crash)."""
        while True:
            chunk = _read(proc.stderr)
            if not chunk:
                return chunk is None  # None: nothing more now; b"": closed
            self._stderr += chunk
            del self._stderr[:-STDERR_TAIL]

    def _death_reason(self, proc: subprocess.Popen, deadline: float) -> str:
        """Why the worker's output ended (it is reaped, or killed if it lingers)."""
        try:
            proc.wait(timeout=max(0.05, min(1.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            pass
        self._drain_stderr(proc)
        was_running = proc.poll() is None
        self._stop(kill=True)
        code = proc.returncode
        tail = self._stderr.decode("utf-8", "replace")
        if any(sign in tail for sign in _MEMORY_SIGNS) or (code == -signal.SIGKILL and not was_running):
            return memory_reason(self.limits)
        if code == -signal.SIGXCPU:
            return "extraction exceeded its cpu time limit"
        if was_running:
            return "extraction worker closed its output"
        if code is not None and code < 0:
            return f"extraction worker crashed (signal {-code})"
        return f"extraction worker exited unexpectedly (exit code {code})"


# one thread for OpenMP and BLAS, one malloc arena: the worker's cores belong to the
# server and the other workers, and each thread's arena would reserve address space
# the worker's RLIMIT_AS counts (OCR's ONNX Runtime and OpenCV fail under it without)
_ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "1"}


def _worker_environment() -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if k in _ENV_KEEP or k.startswith("LC_")}
    return {**kept, **_ONE_THREAD}


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the worker and anything it started (it leads its own session)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()


def _limit_memory(pid: int, limit: int, ceiling: int) -> None:
    """Apply the address-space limit from outside too, so any worker is bound by
    it; the hard limit ``ceiling`` leaves LibreOffice (and only it) room to raise."""
    try:
        import resource

        resource.prlimit(pid, resource.RLIMIT_AS, (limit, max(limit, ceiling)))
    except (ImportError, AttributeError, OSError, ValueError):
        pass  # not Linux, or the worker already exited: it confines itself anyway


def _write_some(pipe, outgoing: list[memoryview]) -> bool:
    """Write what the pipe takes now; False when everything is written or the pipe broke."""
    while outgoing:
        try:
            written = os.write(pipe.fileno(), outgoing[0][:CHUNK])
        except BlockingIOError:
            return True
        except (BrokenPipeError, OSError):
            outgoing.clear()  # the worker is gone; its stdout will tell
            return False
        outgoing[0] = outgoing[0][written:]
        if not outgoing[0]:
            outgoing.pop(0)
    return False


def _read(pipe) -> bytes | None:
    """Bytes available now, b"" at end of file, None if nothing is available yet."""
    try:
        return os.read(pipe.fileno(), CHUNK)
    except BlockingIOError:
        return None
    except OSError:
        return b""


def _close(pipe) -> None:
    try:
        if pipe is not None:
            pipe.close()
    except OSError:
        pass
