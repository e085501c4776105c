"""Benchmark: the audit log's appends and verification.

    .venv/bin/python bench/audit.py [--n 5000] [--per-process 2500] [--verify-events 100000] [--dir DIR]

Prints, in one run:

- appends/s for one process (``AuditLog.append``: flock, read the tail, sign,
  O_APPEND write, fsync), ``--n`` events;
- appends/s for two processes appending to the same log at once (released
  together by a barrier), ``--per-process`` events each: total and per process;
- ``verify_chain`` time and events/s over a log of ``--verify-events`` events,
  and ``check_checkpoint`` over it. That log is built directly, not through
  ``append`` (which is fsync-bound): valid signed lines made with the module's
  own ``canonical``, ``line_hash`` and ``signed_bytes``, written buffered with
  a single fsync at the end;
- appends/s through the archive's reporter (``AuditTrail.report``): the same
  plus sealing a search's details (query text, ~40 bytes) with HPKE
  (ML-KEM-768 + X25519) to an audit key, as every search, get and filing does;
- the log size per event, and of an event with sealed details.

Events look like real ones: a user, one department, an action, a document id,
outcome ok, no reason, sealed null (a line with a 200-byte sealed detail is
measured separately).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from archive_manager.audit import AuditLog, AuditTrail, Signer, check_checkpoint, make_checkpoint, verify_chain  # noqa: E402
from archive_manager.crypto import kem_generate, kem_public_bytes  # noqa: E402
from archive_manager.reporting import ActionEvent  # noqa: E402
from archive_manager.runtime import Runtime  # noqa: E402
from archive_manager.audit.chain import GENESIS, canonical, line_hash, signed_bytes  # noqa: E402
from archive_manager.crypto.encoding import b64e  # noqa: E402
from archive_manager.crypto.primitives import sign, signing_public_bytes  # noqa: E402

SECRETS = {name: os.urandom(32) for name in ("bob", "carol", "auditor")}
PUBLIC = {name: signing_public_bytes(s) for name, s in SECRETS.items()}


def signer(name: str) -> Signer:
    secret = SECRETS[name]
    return Signer(name, lambda msg: sign(secret, msg))


def fields(i: int, user: str = "bob", sealed: str | None = None) -> dict:
    return {"time": f"2026-11-27T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z", "user": user,
            "departments": ["legal"], "action": "get", "objects": {"doc_id": f"C{i % 1000:03d}-2026-{i:06d}"},
            "outcome": "ok", "reason": None, "host": "archive-01", "sealed": sealed, "state": None}


def single(path: Path, n: int) -> float:
    log, me = AuditLog(path), signer("bob")
    t = time.perf_counter()
    for i in range(n):
        log.append(fields(i), me)
    return time.perf_counter() - t


def _worker(path: str, name: str, n: int, barrier, results) -> None:
    log, me = AuditLog(Path(path)), signer(name)
    barrier.wait()
    t = time.perf_counter()
    for i in range(n):
        log.append(fields(i, name), me)
    results.put((name, time.perf_counter() - t))


def concurrent(path: Path, per_process: int) -> tuple[float, dict[str, float]]:
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(3), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(str(path), name, per_process, barrier, results))
             for name in ("bob", "carol")]
    for p in procs:
        p.start()
    barrier.wait()
    t = time.perf_counter()
    times = dict(results.get() for _ in procs)
    wall = time.perf_counter() - t
    for p in procs:
        p.join()
        if p.exitcode != 0:
            sys.exit(f"worker failed with exit code {p.exitcode}")
    return wall, times


def build_direct(path: Path, n: int) -> float:
    """A valid log of n signed events without append's lock and per-event fsync."""
    t = time.perf_counter()
    prev = GENESIS
    with open(path, "wb") as fh:
        for i in range(1, n + 1):
            user = "bob" if i % 3 else "carol"
            event = fields(i, user)
            event.update(seq=i, prev=prev, signer=user)
            event["sig"] = b64e(sign(SECRETS[user], signed_bytes(event)))
            line = canonical(event)
            fh.write(line + b"\n")
            prev = line_hash(line)
        fh.flush()
        os.fsync(fh.fileno())
    return time.perf_counter() - t


def trail(path: Path, n: int) -> tuple[float, int]:
    """``n`` search events through the reporter, details sealed; returns (seconds, bytes/event)."""
    public = kem_public_bytes(kem_generate(os.urandom))
    reporter = AuditTrail(AuditLog(path), Runtime(host="archive-01"), lambda: ("bench", 1, public))
    me = signer("bob")
    t = time.perf_counter()
    for i in range(n):
        reporter.report(ActionEvent("search", "bob", ("legal",), "ok", {"hits": 3, "total": 3},
                                    {"query": f"广告发布合同 HT-2026-{i:03d}", "limit": 10}), me)
    return time.perf_counter() - t, path.stat().st_size // n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000, help="appends in the single-process run")
    parser.add_argument("--per-process", type=int, default=2500, help="appends per process, two processes")
    parser.add_argument("--verify-events", type=int, default=100_000)
    parser.add_argument("--dir", default=os.environ.get("BENCH_TMP"), help="where the logs go (default: temp)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        tmp = Path(tmp)
        print(f"logs in {tmp} (fsync per append)")

        path = tmp / "single.log"
        s = single(path, args.n)
        ok = verify_chain(AuditLog(path).lines(), PUBLIC.get)
        assert ok.ok and ok.events == args.n, ok.to_dict()
        print(f"one process      : {args.n / s:8.0f} appends/s  ({args.n} in {s:.2f} s, "
              f"{s / args.n * 1e3:.2f} ms each)")

        path = tmp / "two.log"
        wall, times = concurrent(path, args.per_process)
        total = 2 * args.per_process
        ok = verify_chain(AuditLog(path).lines(), PUBLIC.get)
        assert ok.ok and ok.events == total, ok.to_dict()
        per = ", ".join(f"{name} {args.per_process / t:.0f}/s ({t:.2f} s)" for name, t in sorted(times.items()))
        print(f"two processes    : {total / wall:8.0f} appends/s total  ({total} in {wall:.2f} s; "
              f"per process: {per}); chain verified, {ok.events} events")

        path = tmp / "trail.log"
        t, per_event = trail(path, args.n)
        ok = verify_chain(AuditLog(path).lines(), PUBLIC.get)
        assert ok.ok and ok.events == args.n, ok.to_dict()
        print(f"through reporter : {args.n / t:8.0f} appends/s  ({args.n} search events with sealed details "
              f"in {t:.2f} s; {per_event} bytes/event); {args.n / s / (args.n / t):.2f}x the bare append time")

        path = tmp / "big.log"
        b = build_direct(path, args.verify_events)
        print(f"built {args.verify_events} events directly in {b:.1f} s (canonical/line_hash/signed_bytes, "
              "buffered writes, one fsync at the end: not through append)")
        t = time.perf_counter()
        result = verify_chain(AuditLog(path).lines(), PUBLIC.get)
        v = time.perf_counter() - t
        assert result.ok and result.events == args.verify_events, result.to_dict()
        print(f"verify_chain     : {v:8.2f} s for {result.events} events = {result.events / v:.0f} events/s")

        cp = make_checkpoint(AuditLog(path).lines(), "bench", "2026-11-28T00:00:00Z", signer("auditor"))
        log = AuditLog(path)
        log.append(fields(0), signer("bob"))  # the head moves on past the checkpoint
        t = time.perf_counter()
        reason = check_checkpoint(cp, log.lines(), "bench", PUBLIC.get)
        c = time.perf_counter() - t
        assert reason is None, reason
        print(f"check_checkpoint : {c:8.2f} s (checkpoint at event {cp['seq']}, scanned from the start)")

        size = path.stat().st_size
        sealed = canonical({**fields(1, sealed=b64e(os.urandom(200))), "seq": 123456, "prev": GENESIS,
                            "signer": "bob", "sig": b64e(bytes(64))})
        print(f"log size         : {size / (args.verify_events + 1):8.0f} bytes/event  "
              f"({size / 1e6:.1f} MB for {args.verify_events + 1} events; "
              f"{len(sealed) + 1} bytes with a 200-byte sealed detail)")


if __name__ == "__main__":
    main()
