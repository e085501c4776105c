"""Benchmark: the server under load (issue 16).

    .venv/bin/python bench/serve.py --home DIR [--sessions 50] [--seconds 120] [--flood 20] [--flood-seconds 60]
                                   [--think 0]

DIR is an archive made by ``bench/scale.py --keep`` (alice, its production
KDF; 10,000 documents for the figures in docs/performance.md). The bench
adds five department users once (legal, credit, business, management,
archive), starts ``archive serve`` on a free port as a child process, and
signs in ``--sessions`` sessions through the API, spread over those users.
Each session is a thread that loops for ``--seconds``: search 50% (the
queries of bench/search.py), dossier page 25% (``/clients/<code>``),
document preview 15% (``/documents/<id>/view`` of a hit), filing 10% (a
small upload), each request sent as soon as the last one is answered
(``--think 0``: a saturation test) or after a pause drawn from an
exponential distribution of mean ``--think`` seconds (people reading what
they got). Then the same for ``--flood-seconds`` while ``--flood``
clients send wrong passphrases as fast as they can, each from its own
address (the server trusts 127.0.0.1 as a proxy for the run, so
X-Forwarded-For picks the address).

Credit sessions (bench-credit) also open ledger pages (``/ledger/<code>``)
and generate dunning letters on the paperwork page (``POST
/paperwork/dunning-letter``, filed back into the dossier): their mix is
search 40%, dossier 15%, preview 10%, filing 5%, ledger 20%, generation 10%.
The set-up signs a letterhead if the archive has none and enters an overdue
invoice for C001..C040. After the normal run, a burst: while the sessions
go on, 20 more credit sessions each generate one letter at the same moment;
printed is the search p95 of the requests answered during the burst against
the p95 before it.

Printed: p50/p95/max per request kind, errors (must be 0), the server's RSS
before sign-in, after, at the end, and per session, and audit events missing
(every answered request's event must be on the trail: must be 0). Load
generator and server share the machine's two cores.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from search import CorpusMaker, queries  # noqa: E402  (bench/search.py)

from archive_manager import accounts  # noqa: E402
from archive_manager.home import ArchiveHome  # noqa: E402
from archive_manager.settings import load_settings  # noqa: E402

ADMIN, ADMIN_PASS = "alice", "alice-scale-passphrase"
USERS = {"bench-legal": "legal", "bench-credit": "credit", "bench-business": "business",
         "bench-management": "management", "bench-archive": "archive"}
WEIGHTS = (("search", 50), ("dossier", 25), ("preview", 15), ("filing", 10))
CREDIT_WEIGHTS = (("search", 40), ("dossier", 15), ("preview", 10), ("filing", 5), ("ledger", 20),
                  ("generate", 10))
KINDS = ("search", "dossier", "preview", "filing", "ledger", "generate")
LETTERHEAD = 'name = "北京某某广告有限公司"\naddress = "北京市朝阳区建国路1号"\nphone = "010-1"\n' \
             'bank = "中国工商银行北京分行"\naccount = "0200 0000 0000 0000"\n'
INVOICED = 40  # C001..C040 get an overdue invoice


def env_for(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVE_")}
    env["ARCHIVE_HOME"] = str(home)
    return env


def setup_users(home: Path) -> None:
    h = ArchiveHome(load_settings(home, env_for(home)))
    alice = h.login(ADMIN, ADMIN_PASS)
    known = {u.user for u in accounts.list_users(alice)}
    for name, dept in USERS.items():
        if name not in known:
            accounts.add_user(alice, name, [dept], f"{name}-passphrase")
    h.close()


def setup_paperwork(home: Path) -> None:
    """A signed letterhead (written and signed by alice if the archive has
    none) and an overdue invoice for each of C001..C040 (bench-credit)."""
    from datetime import date, timedelta

    from archive_manager import receivables

    h = ArchiveHome(load_settings(home, env_for(home)))
    company = home / "policies" / "company.toml"
    if not company.exists():
        company.write_text(LETTERHEAD, encoding="utf-8")
    alice = h.login(ADMIN, ADMIN_PASS, check_policy_files=False)
    if accounts.policy_diff(alice):
        accounts.sync_policy(alice)
    credit = h.login("bench-credit", "bench-credit-passphrase")
    due = (date.today() - timedelta(days=45)).isoformat()
    for n in range(1, INVOICED + 1):
        code = f"C{n:03d}"
        if not any(r.invoice == "BENCH-1" for r in receivables.list_invoices(credit, code)):
            receivables.add_invoice(credit, code, "BENCH-1", "120000.00", due)
    h.close()


def trust_loopback_proxy(home: Path) -> str:
    toml = home / "archive.toml"
    text = toml.read_text(encoding="utf-8")
    new = re.sub(r"(?m)^trusted_proxies = .*$", 'trusted_proxies = ["127.0.0.1"]', text)
    if new == text and "trusted_proxies" not in text:
        new = text + '\n[server]\ntrusted_proxies = ["127.0.0.1"]\n'
    toml.write_text(new, encoding="utf-8")
    return text


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Session:
    def __init__(self, port: int, user: str) -> None:
        self.port, self.user = port, user
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        status, body = self.call("POST", "/api/v1/session",
                                 json.dumps({"user": user, "passphrase": f"{user}-passphrase"}).encode(),
                                 {"content-type": "application/json"}, auth=False)
        if status != 201:
            raise RuntimeError(f"sign-in of {user} failed: {status} {body[:200]!r}")
        self.token = json.loads(body)["token"]
        self.csrf = ""
        if user == "bench-credit":  # the paperwork form's token, for its posts
            status, body = self.call("GET", "/paperwork/dunning-letter")
            match = re.search(rb'name="csrf" value="([^"]+)"', body)
            if status != 200 or not match:
                raise RuntimeError(f"the dunning letter's form: {status} {body[:200]!r}")
            self.csrf = match.group(1).decode()

    def generate(self, client: str) -> tuple[int, bytes]:
        """A dunning letter for ``client``, filed back (the paperwork page's form)."""
        form = f"csrf={quote(self.csrf)}&do=generate&client={client}".encode()
        return self.call("POST", "/paperwork/dunning-letter", form,
                         {"content-type": "application/x-www-form-urlencoded"})

    def call(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
             auth: bool = True) -> tuple[int, bytes]:
        h = dict(headers or {})
        if auth:
            h["authorization"] = f"Bearer {self.token}"
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=body, headers=h)
                r = self.conn.getresponse()
                return r.status, r.read()
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt == 2:
                    raise
        raise AssertionError


def multipart(fields: dict, name: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{quote(name)}"\r\n'
                 f"Content-Type: text/plain\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def work(s: Session, qs: list, until: float, rng: random.Random, out: dict, lock: threading.Lock,
         hits: list[str], filing_types: list[tuple[str, str]], think: float = 0.0) -> None:
    kinds = [k for k, w in (CREDIT_WEIGHTS if s.csrf else WEIGHTS) for _ in range(w)]
    while time.monotonic() < until:
        if think:
            time.sleep(min(rng.expovariate(1 / think), max(0.0, until - time.monotonic())))
            if time.monotonic() >= until:
                break
        kind = rng.choice(kinds)
        t = time.perf_counter()
        expected = (200,)
        if kind == "search":
            q, kw = rng.choice(qs)
            path = f"/api/v1/search?q={quote(q)}" + "".join(f"&{'type' if k == 'doc_type' else k}={quote(v)}"
                                                           for k, v in kw.items())
            status, body = s.call("GET", path)
            expected = (200, 403)  # a type of a class the department lacks is refused
            if status == 200 and len(hits) < 2000:
                with lock:
                    hits.extend(h["doc_id"] for h in json.loads(body)["hits"][:3])
        elif kind == "dossier":
            status, body = s.call("GET", f"/clients/C{rng.randint(1, 200):03d}")
        elif kind == "preview":
            if not hits:
                continue
            status, body = s.call("GET", f"/documents/{rng.choice(hits)}/view")
            expected = (200, 404)  # a hit of another session's department: not this user's to read
        elif kind == "ledger":
            status, body = s.call("GET", f"/ledger/C{rng.randint(1, 200):03d}")
        elif kind == "generate":
            status, body = s.generate(f"C{rng.randint(1, INVOICED):03d}")
            expected = (303,)
        else:
            client, doc_type = rng.choice(filing_types)
            text = f"压力测试文件 {uuid.uuid4().hex} 会议纪要 付款 合同".encode()
            body_bytes, ctype = multipart({"client": client, "type": doc_type}, f"bench-{uuid.uuid4().hex[:8]}.txt",
                                          text)
            status, body = s.call("POST", "/api/v1/documents", body_bytes, {"content-type": ctype})
            expected = (201, 403)
        dt = (time.perf_counter() - t) * 1000
        with lock:
            out.setdefault(kind, []).append(dt)
            out.setdefault("timed", []).append((kind, t, time.perf_counter()))
            if status not in expected:
                out.setdefault("errors", []).append(f"{kind} {status} {body[:120]!r}")
            elif status in (200, 201, 303):
                out.setdefault("ok", {}).setdefault(kind, 0)
                out["ok"][kind] += 1


def flood(port: int, until: float, n: int, out: dict, lock: threading.Lock) -> None:
    def one(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        rng = random.Random(i)
        while time.monotonic() < until:
            addr = f"198.51.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
            user = rng.choice(list(USERS) + ["nobody", "admin", "root"])
            try:
                conn.request("POST", "/api/v1/session", body=json.dumps({"user": user, "passphrase": "guess"}),
                             headers={"content-type": "application/json", "x-forwarded-for": addr})
                r = conn.getresponse()
                r.read()
                with lock:
                    out.setdefault(r.status, 0)
                    out[r.status] += 1
            except (http.client.HTTPException, OSError):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))]


def run_phase(label: str, sessions: list[Session], qs, seconds: float, flood_n: int, port: int,
              filing_types, think: float = 0.0) -> dict:
    out: dict = {}
    lock = threading.Lock()
    hits: list[str] = []
    until = time.monotonic() + seconds
    flood_out: dict = {}
    threads = [threading.Thread(target=work, args=(s, qs, until, random.Random(i), out, lock, hits, filing_types,
                                                   think), daemon=True) for i, s in enumerate(sessions)]
    if flood_n:
        threads.append(threading.Thread(target=flood, args=(port, until, flood_n, flood_out, lock), daemon=True))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"{label}:")
    for kind in KINDS:
        lat = out.get(kind, [])
        if lat:
            print(f"  {kind:8} n={len(lat):5}  p50 {statistics.median(lat):7.1f} ms  p95 {pct(lat, 95):7.1f} ms  "
                  f"max {max(lat):7.1f} ms")
    errors = out.get("errors", [])
    print(f"  errors   {len(errors)}" + (f": {errors[:3]}" if errors else ""))
    if flood_n:
        print(f"  flood    {sum(flood_out.values())} wrong sign-ins by {flood_n} clients: "
              + ", ".join(f"{k}: {v}" for k, v in sorted(flood_out.items())))
    return out


def burst(port: int, sessions: list[Session], qs, seconds: float, filing_types, think: float, n: int) -> dict:
    """The sessions' mix for ``seconds``; a third of the way in, ``n`` more
    credit sessions each generate one dunning letter at the same moment.
    Prints the generations' latency and the search p95 before and during."""
    gens = [Session(port, "bench-credit") for _ in range(n)]
    gate = threading.Barrier(n + 1)
    lat: list[float] = []
    span: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def one(i: int, s: Session) -> None:
        gate.wait()
        t = time.perf_counter()
        status, body = s.generate(f"C{i % INVOICED + 1:03d}")
        with lock:
            lat.append((time.perf_counter() - t) * 1000)
            span.extend((t, time.perf_counter()))
            if status != 303:
                errors.append(f"{status} {body[:120]!r}")

    threads = [threading.Thread(target=one, args=(i, s), daemon=True) for i, s in enumerate(gens)]
    for t in threads:
        t.start()
    box: dict = {}
    runner = threading.Thread(target=lambda: box.update(out=run_phase(
        f"{seconds:.0f} s, {len(sessions)} sessions, a burst of {n} letter generations a third of the way in",
        sessions, qs, seconds, 0, port, filing_types, think)), daemon=True)
    runner.start()
    time.sleep(seconds / 3)
    gate.wait()
    for t in threads:
        t.join()
    runner.join()
    start, end = min(span), max(span)
    during = [(b - a) * 1000 for kind, a, b in box["out"].get("timed", []) if kind == "search" and b >= start
              and a <= end]
    before = [(b - a) * 1000 for kind, a, b in box["out"].get("timed", []) if kind == "search" and b < start]
    print(f"  burst    {n} generations at once: p50 {statistics.median(lat):7.1f} ms  p95 {pct(lat, 95):7.1f} ms  "
          f"max {max(lat):7.1f} ms, all answered in {end - start:.1f} s; errors {len(errors)}"
          + (f": {errors[:2]}" if errors else ""))
    if during and before:
        print(f"  search p95 before the burst {pct(before, 95):7.1f} ms (n={len(before)}), during it "
              f"{pct(during, 95):7.1f} ms (n={len(during)}): ratio {pct(during, 95) / pct(before, 95):.2f}; "
              f"goal <= 300 ms")
    for s in gens:
        s.call("DELETE", "/api/v1/session")
    box["out"].setdefault("ok", {})["generate"] = box["out"].get("ok", {}).get("generate", 0) + n - len(errors)
    return box["out"]


def audit_counts(home: Path, since_seq: int) -> dict:
    counts: dict = {}
    with open(home / "audit" / "events.log", encoding="utf-8") as fh:
        for line in fh:
            e = json.loads(line)
            if e["seq"] > since_seq and e.get("user") in USERS and e["outcome"] == "ok":
                counts[e["action"]] = counts.get(e["action"], 0) + 1
    return counts


def last_seq(home: Path) -> int:
    with open(home / "audit" / "events.log", "rb") as fh:
        fh.seek(max(0, os.path.getsize(fh.name) - 65536))
        return json.loads(fh.read().splitlines()[-1])["seq"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--sessions", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--flood", type=int, default=20)
    ap.add_argument("--flood-seconds", type=float, default=60)
    ap.add_argument("--think", type=float, default=0.0, help="mean pause between a session's requests (s)")
    ap.add_argument("--burst", type=int, default=20, help="letter generations at once in the burst phase (0: none)")
    ap.add_argument("--burst-seconds", type=float, default=30)
    args = ap.parse_args()
    home = args.home.resolve()
    setup_users(home)
    setup_paperwork(home)
    original_toml = trust_loopback_proxy(home)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", "from archive_manager.cli import main; main()", "serve",
                               "--port", str(port)], env=env_for(home), stderr=subprocess.PIPE)
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        rss0 = rss_mb(server.pid)
        start_seq = last_seq(home)
        t = time.perf_counter()
        users = list(USERS)
        sessions = [Session(port, users[i % len(users)]) for i in range(args.sessions)]
        signin_s = time.perf_counter() - t
        rss1 = rss_mb(server.pid)
        maker = CorpusMaker(1)
        qs = queries([maker.document(i) for i in range(200)])
        filing_types = [(f"C{c:03d}", t) for c in range(1, 201) for t in ("minutes", "email", "complaint")]
        print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; archive {home}; "
              f"{args.sessions} sessions of {len(users)} users signed in in {signin_s:.1f} s")
        pause = f", think time {args.think:g} s" if args.think else ", no think time"
        normal = run_phase(f"{args.seconds:.0f} s, {args.sessions} sessions{pause}", sessions, qs, args.seconds, 0,
                           port, filing_types, args.think)
        rss2 = rss_mb(server.pid)
        flooded = run_phase(f"{args.flood_seconds:.0f} s, {args.sessions} sessions{pause} and {args.flood} flooding "
                            f"clients", sessions, qs, args.flood_seconds, args.flood, port, filing_types, args.think) \
            if args.flood else {}
        rss3 = rss_mb(server.pid)
        bursted = burst(port, sessions, qs, args.burst_seconds, filing_types, args.think, args.burst) \
            if args.burst else {}
        for s in sessions:
            s.call("DELETE", "/api/v1/session")
        time.sleep(0.5)
        answered: dict = {}
        for phase in (normal, flooded, bursted):
            for kind, n in phase.get("ok", {}).items():
                answered[kind] = answered.get(kind, 0) + n
        got = audit_counts(home, start_seq)
        action = {"search": "search", "dossier": "client-show", "preview": "view", "filing": "file",
                  "ledger": "ledger-list", "generate": "generate"}
        missing = {k: answered[k] - got.get(action[k], 0) for k in answered}
        print(f"server RSS: {rss0:.0f} MB before sign-in, {rss1:.0f} MB with {args.sessions} sessions "
              f"({(rss1 - rss0) / max(1, args.sessions):.1f} MB each), {rss2:.0f} MB after the run, "
              f"{rss3:.0f} MB after the flood")
        print(f"audit events missing: {sum(max(0, v) for v in missing.values())} "
              f"(answered {answered}; on the trail: sign-ins {got.get('login', 0)}, sign-outs {got.get('logout', 0)})")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
        (home / "archive.toml").write_text(original_toml, encoding="utf-8")


if __name__ == "__main__":
    main()
