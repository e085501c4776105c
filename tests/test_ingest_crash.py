"""Crash safety of the inbox (issue 5, requirement 4): ``archive ingest`` killed
with SIGKILL at random moments, then restarted.

The archive: alice (admin), ``svc`` (the service user, archive department),
clients C001..C005, and four contracts alice filed beforehand (for sidecars
that file new versions of them). The inbox: 200 small documents, mostly TXT,
some DOCX and PDF, spread over the five clients and a dozen types of every
access class, each with its own content and a unique token; 30 have a sidecar
(title, date, tags; four of them ``replaces`` one of alice's contracts).

A child process runs the real CLI (``archive_manager.cli:main`` with
``ingest -u svc --passphrase-file F``) and is killed after a seeded random
delay. The child prints a marker line on entering and leaving the stages
that matter (``recover``, ``run_pass``, ``process``, ``store``: encrypt and
vault commit, ``commit``: from a filing's audit event, its commit point, to
the end of its renames, ``flush``: index commit and removing the originals),
which only observe. Each kill is timed in one of four ways, chosen by the
seeded RNG: from the start of the process (lands in start-up, sign-in,
recovery or early filing), from the start of the filing pass, just after an
index flush begins, or inside the n-th commit, after its audit event and
before its renames (that window is a fraction of a millisecond, so in these
runs the child lingers there for COMMIT_PAUSE: the order of the steps is
unchanged, the crash must roll the commit forward). The inbox batch is 10
(``[inbox] batch``) so that a pass has many index commits to be killed in.

After every kill, read as any reader would, without recovering first: every
token is filed exactly once or still in the inbox with its bytes and its
sidecar (never lost, never two documents), nothing else is in the vault,
nothing was quarantined. Kills continue until at least MIN_KILLS have landed
while the child was running and the inbox is empty (at most MAX_KILLS, or
until the time budget is spent), then one run goes to completion; its
start-up recovery (vault journal, ``reindex --if-needed``) must leave a state
where: the inbox is empty, ``verify`` reports no problem (notes about
unreferenced encrypted files of killed filings are allowed), the audit chain
verifies, every version in the vault has exactly one committed ``file``
event, the indexes are current, and each filed document is found by
searching its token.
"""

from __future__ import annotations

import pytest

import collections
import hashlib
import io
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path


from archive_manager import accounts, clients, filing, reading, reindexing, searching
from archive_manager.auditing import verify_trail
from archive_manager.verify import verify_vault
from tests.conftest import REPO, make_env, open_home
from tests.ingest import samples

SEED = 20261127
N_FILES = 200
MIN_KILLS = 20
MAX_KILLS = 40
KILL_BUDGET_S = 55.0  # stop killing (once MIN_KILLS landed) when this much time has gone by
RUN_TIMEOUT_S = 60.0
BATCH = 10
COMMIT_PAUSE = 0.05  # seconds the child lingers after a commit's audit event, in the runs killed there
SVC = "svc"
CLIENTS = {
    "C001": "北京星辰传媒有限公司",
    "C002": "上海东方广告有限公司",
    "C003": "广州华美文化传播有限公司",
    "C004": "深圳蓝海科技有限公司",
    "C005": "杭州云帆品牌管理有限公司",
}
# (type, the words its text starts with), every access class represented
TYPES = [
    ("contract", "广告发布合同"), ("contract-amendment", "合同变更协议"), ("minutes", "会议纪要"),
    ("email", "邮件往来"), ("call-note", "通话记录"), ("plan", "投放方案"), ("feedback", "客户反馈"),
    ("monitoring-report", "投放监测报告"), ("complaint", "客户投诉"), ("survey", "满意度调查"),
    ("credit-report", "信用报告"), ("receivable", "应收账款"), ("requirements", "业务需求"),
    ("client-profile", "客户基本情况"),
]
PHRASES = ["双方同意在电视、网络及户外广告牌投放品牌广告", "付款方式为签约后三十日内支付百分之五十",
           "the media plan for Q3 covers outdoor screens and short video", "第三方监测数据与媒体报告不一致",
           "invoice overdue, please settle within 15 days", "创意提案评审通过，排期以媒体排期表为准",
           "客服响应不及时，客户要求补播", "campaign KPI: 1.2M impressions, CTR 0.8%"]
TOKEN_CHARS = "abcdefghjkmnpqrstuvwxyz23456789"

# The child: the real CLI, plus marker lines around the stages a kill should hit.
CHILD = r"""
import os
import sys
import time

def mark(what):
    sys.stdout.write(what + "\n")
    sys.stdout.flush()

mark("start")
from archive_manager import filing, ingesting, searching

def traced(cls, name, label=None):
    inner, label = getattr(cls, name), label or name
    def wrapper(self, *args, **kwargs):
        mark(label + "+")
        try:
            return inner(self, *args, **kwargs)
        finally:
            mark(label + "-")
    setattr(cls, name, wrapper)

# "flush": a batch's index commit, wherever it runs (the index writer child,
# forked with these wrappers and this stdout, marks it too: a kill of the CLI
# process then lands while its child commits)
for cls, name, label in ((ingesting.Ingestor, "recover", None), (ingesting.Ingestor, "run_pass", None),
                         (ingesting.Ingestor, "process", None), (searching.IndexBatch, "flush", "flush"),
                         (filing.FilingPipeline, "store", None)):
    traced(cls, name, label)

# "commit": from the audit event of a vault commit (its commit point) to the end
# of its renames; with CRASH_TEST_PAUSE the child lingers there, to be killed in it
from archive_manager.vault.store import Vault
pause = float(os.environ.get("CRASH_TEST_PAUSE", "0"))
recorded_commit = Vault._recorded_commit

def _recorded_commit(self, tx, on_commit):
    def on_commit_marked(state):
        on_commit(state)
        mark("commit+")
        time.sleep(pause)
    try:
        return recorded_commit(self, tx, on_commit_marked)
    finally:
        mark("commit-")

Vault._recorded_commit = _recorded_commit
from archive_manager.cli import main
main(sys.argv[1:], prog_name="archive")
"""


@dataclass(frozen=True)
class Planned:
    rel: str                  # path in the inbox
    client: str
    doc_type: str
    token: str
    data: bytes
    sidecar: str | None = None  # its TOML text
    title: str | None = None
    replaces: str | None = None


@dataclass
class World:
    root: Path
    inbox: Path
    passfile: Path
    planned: list[Planned]
    prefiled: dict[str, str]  # token -> doc id (alice's contracts)
    by_sha: dict[str, str] = field(default_factory=dict)  # sha256 of a document's bytes -> its token

    def __post_init__(self) -> None:
        for p in self.planned:
            self.by_sha[hashlib.sha256(p.data).hexdigest()] = p.token


# --- building the archive and the inbox -------------------------------------------------

def new_token(rng: random.Random, used: set[str]) -> str:
    while True:
        token = "tk" + "".join(rng.choice(TOKEN_CHARS) for _ in range(8))
        if token not in used:
            used.add(token)
            return token


def text_body(rng: random.Random, lead: str, token: str, client: str, n: int) -> str:
    lines = [f"{lead}（{CLIENTS[client]}）编号 {token}"]
    lines += [f"{rng.choice(PHRASES)}。{rng.choice(PHRASES)}；序号 {n}-{i}" for i in range(rng.randint(3, 8))]
    return "\n".join(lines) + "\n"


def make_archive(root: Path) -> None:
    home = open_home(root)
    home.init("alice", "alice-pw")
    alice = home.login("alice", "alice-pw")
    accounts.add_user(alice, SVC, ["archive"], f"{SVC}-pw")
    for code, name in CLIENTS.items():
        clients.add_client(alice, code, name, {"legal_rep": "张伟"})
    config = root / "archive.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("[inbox]\n", f"[inbox]\nbatch = {BATCH}\n"),
                      encoding="utf-8")
    home.close()


def build_world(root: Path, seed: int = SEED, n_files: int = N_FILES, n_sidecars: int = 30,
                n_replaces: int = 4) -> World:
    rng = random.Random(seed)
    used: set[str] = set()
    make_archive(root)
    home = open_home(root)
    alice = home.login("alice", "alice-pw")
    staging = root / "staging"
    staging.mkdir()
    prefiled, prefiled_ids = {}, []
    for i in range(n_replaces):
        client = f"C00{i + 1}"
        token = new_token(rng, used)
        src = staging / f"框架合同{i}.txt"
        src.write_text(text_body(rng, "年度框架合同", token, client, 1000 + i), encoding="utf-8")
        doc_id = filing.file_document(alice, src, client, "contract").doc_id
        prefiled[token] = doc_id
        prefiled_ids.append(doc_id)
    home.close()

    inbox = root / "inbox"
    planned = []
    n_office = min(8, n_files // 20)
    kinds = ["pdf"] * n_office + ["docx"] * n_office + ["txt"] * (n_files - 2 * n_office)
    rng.shuffle(kinds)
    sidecar_at = set(rng.sample(range(n_files), n_sidecars))
    replaces_at = set(sorted(sidecar_at)[:n_replaces])
    for n, kind in enumerate(kinds):
        token = new_token(rng, used)
        replaces = None
        if n in replaces_at:
            replaces = prefiled_ids.pop()
            client, doc_type, lead = replaces.split("-")[0], "contract-amendment", "合同变更协议"
        else:
            client = rng.choice(sorted(CLIENTS))
            doc_type, lead = rng.choice(TYPES)
        body = text_body(rng, lead, token, client, n)
        if kind == "pdf":
            first, rest = body.split("\n", 1)
            data = samples.cjk_pdf([f"编号 {token}", first[:30], rest])
        elif kind == "docx":
            data = samples.docx(body, table=[["项目", "金额"], [lead, f"{rng.randint(1, 999)}万元"]],
                                header=f"{lead} {n}")
        else:
            data = body.encode("utf-8")
        name = f"{lead}_{n:03d}.{kind}" if n % 3 else f"doc-{n:03d}.{kind}"
        rel = f"{client}/{doc_type}/{name}"
        sidecar = title = None
        if n in sidecar_at:
            title = f"{lead}（第{n}号）"
            when = date(2025, 1, 1) + timedelta(days=rng.randrange(600))
            sidecar = f'title = "{title}"\ndate = {when.isoformat()}\ntags = ["crash-test", "{kind}"]\n'
            if replaces:
                sidecar += f'replaces = "{replaces}"\n'
        planned.append(Planned(rel, client, doc_type, token, data, sidecar, title, replaces))
    old = time.time() - 3600  # written an hour ago: settled, no quiet period to wait out
    for p in planned:
        path = inbox / p.rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(p.data)
        os.utime(path, (old, old))
        if p.sidecar is not None:
            side = path.with_name(path.name + ".toml")
            side.write_text(p.sidecar, encoding="utf-8")
            os.utime(side, (old, old))
    passfile = root / "svc.pass"
    passfile.write_text(f"{SVC}-pw\n", encoding="utf-8")
    passfile.chmod(0o600)
    return World(root, inbox, passfile, planned, prefiled)


# --- running the child ------------------------------------------------------------------

class Child:
    """``archive ingest`` in a child process; its marker lines are collected
    by a thread with the time each arrived."""

    def __init__(self, world: World, log: Path, code: str = CHILD, pause: float = 0.0) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ARCHIVE_", "CRASH_TEST_"))}
        env.update(make_env(world.root, CRASH_TEST_PAUSE=str(pause)))
        self.stderr = open(log, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, "ingest", "-u", SVC, "--passphrase-file", str(world.passfile)],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        self.lines: list[tuple[float, str]] = []
        self._seen: collections.Counter = collections.Counter()
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self._add(line.rstrip("\n"))
        self._add("<eof>")

    def _add(self, marker: str) -> None:
        with self._cond:
            self.lines.append((time.monotonic(), marker))
            self._seen[marker] += 1
            self._cond.notify_all()

    def wait_for(self, marker: str, count: int = 1, timeout: float = RUN_TIMEOUT_S) -> bool:
        """Until ``marker`` has been printed ``count`` times; False if the child ended first."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if self._seen[marker] >= count:
                    return True
                if self._seen["<eof>"]:
                    return False
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"the child printed no {marker!r} in {timeout} s")
                self._cond.wait(left)

    def kill_after(self, delay: float) -> tuple[bool, str]:
        """SIGKILL after ``delay`` s; returns (killed while running, the stage it was in)."""
        time.sleep(delay)
        killed = self.proc.poll() is None
        if killed:
            self.killed_at = time.monotonic()
            self.proc.send_signal(signal.SIGKILL)
        self.finish()
        return killed, self.stage() if killed else "exited"

    def finish(self, timeout: float = RUN_TIMEOUT_S) -> int:
        try:
            rc = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._reader.join(timeout=5)
            self.stderr.close()
        return rc

    def stage(self) -> str:
        """The innermost stage open when the child died; "flush" if an index
        commit was under way (in the CLI process or in its index writer
        child, whose markers interleave with the CLI's)."""
        open_stages: list[str] = []
        flushing = 0
        # what was printed before the kill: its index writer, if one was committing, ends its
        # commit after the CLI process died (it sees the end of its pipe only then)
        for _, m in [(t, m) for t, m in self.lines if t <= getattr(self, "killed_at", float("inf"))]:
            if m in ("flush+", "flush-"):
                flushing = flushing + 1 if m == "flush+" else max(0, flushing - 1)
            elif m.endswith("+"):
                open_stages.append(m[:-1])
            elif m.endswith("-") and open_stages and open_stages[-1] == m[:-1]:
                open_stages.pop()
        if flushing:
            return "flush"
        if open_stages:
            return open_stages[-1]
        return "after run_pass" if any(m == "run_pass-" for _, m in self.lines) else "start-up"

    def output(self) -> str:
        return "\n".join(m for _, m in self.lines if not m.endswith(("+", "-")) and m not in ("start", "<eof>"))


def one_kill(world: World, rng: random.Random, log: Path) -> tuple[str, float, bool, str]:
    """Start the child, kill it at a seeded moment; (how it was timed, delay, killed, stage)."""
    mode = rng.choices(["from start", "in the pass", "in a store", "in a flush", "at a commit"],
                       weights=[2, 3, 1, 3, 2])[0]
    pause = 0.0
    if mode == "from start":
        delay, after = rng.uniform(0.05, 0.6), None
    elif mode == "in the pass":
        delay, after = rng.uniform(0.0, 0.15), ("run_pass+", 1)
    elif mode == "in a store":  # a store is short since the file is read once: aim at one, not by luck
        delay, after = rng.uniform(0.0, 0.003), ("store+", rng.randint(1, 8))
    elif mode == "in a flush":
        delay, after = rng.uniform(0.0, 0.02), ("flush+", rng.randint(1, 2))
    else:  # between a filing's audit event and its renames, held open for COMMIT_PAUSE
        delay, after, pause = rng.uniform(0.0, COMMIT_PAUSE / 2), ("commit+", rng.randint(1, 12)), COMMIT_PAUSE
    child = Child(world, log, pause=pause)
    if after is not None and not child.wait_for(*after):
        child.finish()
        return mode, delay, False, "exited"
    killed, stage = child.kill_after(delay)
    return mode, delay, killed, stage


# --- checking ---------------------------------------------------------------------------

def inbox_files(inbox: Path) -> set[str]:
    return {p.relative_to(inbox).as_posix() for p in inbox.rglob("*") if p.is_file() or p.is_symlink()}


class VaultReader:
    """What the vault holds, read as alice like any reader (no recovery first);
    each version is decrypted once and identified by its exact bytes."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.cache: dict[tuple[str, int], str] = {}

    def read(self) -> tuple[dict[str, list[tuple[str, int]]], list[dict]]:
        home = open_home(self.world.root)
        try:
            alice = home.login("alice", "alice-pw")
            rows = reading.list_documents(alice)
            where: dict[str, list[tuple[str, int]]] = collections.defaultdict(list)
            for row in rows:
                found = reading.locate(alice, row.doc_id)
                for v in found.doc["versions"]:
                    key = (row.doc_id, v["version"])
                    if key not in self.cache:
                        buf = io.BytesIO()
                        reading.decrypt_version(alice, found, v, buf)  # authenticates, checks the SHA-256
                        self.cache[key] = self._token(buf.getvalue(), key)
                    where[self.cache[key]].append(key)
            return where, rows
        finally:
            home.close()

    def _token(self, data: bytes, key: tuple[str, int]) -> str:
        token = self.world.by_sha.get(hashlib.sha256(data).hexdigest())
        if token is None:  # one of alice's contracts, or something that should not be there
            token = next((t for t in self.world.prefiled if t.encode() in data), None)
        assert token is not None, f"{key[0]} v{key[1]} holds content that was never in the inbox"
        return token


def check_invariants(world: World, vault: VaultReader, when: str) -> tuple[int, int]:
    """Every token filed exactly once or still in the inbox; returns (filed, still in the inbox)."""
    where, _ = vault.read()
    twice = {t: keys for t, keys in where.items() if len(keys) > 1}
    assert not twice, f"{when}: filed more than once: {twice}"
    for token, doc_id in world.prefiled.items():
        assert where.get(token) == [(doc_id, 1)], f"{when}: alice's contract {doc_id} changed: {where.get(token)}"
    assert not (world.inbox / ".failed").exists(), \
        f"{when}: something was quarantined: {sorted(inbox_files(world.inbox / '.failed'))}"
    present = inbox_files(world.inbox)
    expected_names = set()
    filed = waiting = 0
    for p in world.planned:
        path = world.inbox / p.rel
        in_inbox = path.is_file()
        if in_inbox:
            waiting += 1
            assert path.read_bytes() == p.data, f"{when}: {p.rel} changed in the inbox"
            expected_names.add(p.rel)
            if p.sidecar is not None:
                side = path.with_name(path.name + ".toml")
                if side.is_file():
                    assert side.read_text(encoding="utf-8") == p.sidecar, f"{when}: {p.rel}'s sidecar changed"
                    expected_names.add(f"{p.rel}.toml")
                else:  # killed between removing the sidecar and the document: only once it is filed
                    assert p.token in where, f"{when}: {p.rel} is still in the inbox but its sidecar is gone"
        if p.token in where:
            filed += 1
        else:
            assert in_inbox, f"{when}: {p.rel} ({p.token}) is lost: neither in the vault nor in the inbox"
    stray = sorted(present - expected_names)
    assert not stray, f"{when}: files left in the inbox whose documents are gone: {stray}"
    return filed, waiting


def committed_file_events(root: Path) -> collections.Counter:
    """(doc id, version) of every ``file`` event that committed a change to the vault."""
    out: collections.Counter = collections.Counter()
    for line in open_home(root).audit_log().lines():
        event = json.loads(line)
        if event.get("action") == "file" and event.get("outcome") == "ok" and event.get("state"):
            objects = event["objects"]
            out[(objects["doc_id"], objects["version"])] += 1
    return out


def final_checks(world: World, vault: VaultReader) -> None:
    where, rows = vault.read()
    assert inbox_files(world.inbox) == set(), f"left in the inbox: {sorted(inbox_files(world.inbox))}"
    filed, waiting = check_invariants(world, vault, "at the end")
    assert (filed, waiting) == (len(world.planned), 0)
    by_id = {r.doc_id: r for r in rows}
    for p in world.planned:
        (doc_id, version), = where[p.token]
        row = by_id[doc_id]
        assert (row.client, row.type) == (p.client, p.doc_type), (p.rel, row)
        if p.replaces is not None:
            assert (doc_id, version, row.versions) == (p.replaces, 2, 2), (p.rel, row)
        if p.title is not None:
            assert row.title == p.title, (p.rel, row.title)
        assert row.text == "ok", (p.rel, row.text_reason)

    events = committed_file_events(world.root)
    versions = collections.Counter(key for keys in where.values() for key in keys)
    assert events == versions, ("the audit trail's filing commits and the vault's versions differ: "
                                f"only in the trail {events - versions}, only in the vault {versions - events}")

    home = open_home(world.root)
    try:
        alice = home.login("alice", "alice-pw")
        report = verify_vault(alice)
        assert report.ok and report.problems == [], report.problems
        assert report.checked.versions == len(world.planned) + len(world.prefiled)
        unexpected = [n for n in report.notes if "unreferenced file objects/" not in n]
        print(f"verify: {report.checked}; {len(report.notes)} notes, e.g. {report.notes[:2]}")
        assert unexpected == [], unexpected  # the final run's recovery left nothing for verify to finish
        trail = verify_trail(home)
        assert trail.ok, trail
        current = {r.access_class: r.action for r in reindexing.reindex(alice, if_needed=True)}
        assert set(current.values()) == {"current"}, current
        for cls in current:  # each index holds exactly its class's documents, each once
            index = searching.class_index(alice, cls)
            try:
                indexed = index.doc_ids()
            finally:
                index.close()
            extra = collections.Counter(indexed) - collections.Counter(r.doc_id for r in rows if r.access_class == cls)
            missing = collections.Counter(r.doc_id for r in rows if r.access_class == cls) - collections.Counter(indexed)
            assert not extra and not missing, f"{cls} index: extra or twice {extra}, missing {missing}"
        for p in world.planned:
            (doc_id, _), = where[p.token]
            hits = searching.search(alice, p.token, limit=5).hits
            assert doc_id in [h.doc_id for h in hits], f"{p.rel}: searching {p.token} finds {hits}"
    finally:
        home.close()


# --- the tests --------------------------------------------------------------------------

@pytest.mark.slow
def test_kill_9_during_ingest_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    started = time.monotonic()
    root = tmp_path / "home"
    root.mkdir()
    world = build_world(root)
    vault = VaultReader(world)
    rng = random.Random(SEED)
    assert check_invariants(world, vault, "before any run") == (0, N_FILES)

    rounds: list[str] = []
    stages: collections.Counter = collections.Counter()
    kills = 0
    while True:
        waiting = len([p for p in world.planned if (world.inbox / p.rel).exists()])
        spent = time.monotonic() - started
        if kills >= MIN_KILLS and (waiting == 0 or kills >= MAX_KILLS or spent > KILL_BUDGET_S):
            break
        assert len(rounds) < 3 * MAX_KILLS, "too many runs finished before they could be killed"
        log = tmp_path / f"child-{len(rounds):02d}.err"
        mode, delay, killed, stage = one_kill(world, rng, log)
        kills += killed
        if killed:
            stages[stage] += 1
        when = f"after run {len(rounds)} ({mode}, {delay:.3f} s, {'killed in ' + stage if killed else stage})"
        filed, waiting = check_invariants(world, vault, when)
        rounds.append(f"{when}: filed {filed}, in the inbox {waiting}")

    summary = "\n".join(rounds) + f"\nkills by stage: {dict(stages)}"
    print(summary)
    assert kills >= MIN_KILLS, summary
    assert min(stages["flush"], stages["store"], stages["commit"]) >= 1, f"kills missed the commits: {summary}"

    child = Child(world, tmp_path / "final.err")
    rc = child.finish()
    err = (tmp_path / "final.err").read_text(encoding="utf-8", errors="replace")
    assert rc == 0, f"final run exited {rc}: {child.output()}\n{err}"
    assert "quarantined 0" in child.output(), child.output()
    print(f"final run: {child.output()}\n{err.strip()}")
    final_checks(world, vault)
    print(f"crash test took {time.monotonic() - started:.1f} s")


CRASH_BETWEEN_UNLINKS = r"""
import os, signal, sys
from archive_manager.ingest import inbox

inner = inbox.remove_original

def remove_original(item, *args):  # a SIGKILL between removing the sidecar and the document
    if item.sidecar is not None:
        item.sidecar.unlink()
        os.kill(os.getpid(), signal.SIGKILL)
    return inner(item, *args)

inbox.remove_original = remove_original
from archive_manager.cli import main
main(sys.argv[1:], prog_name="archive")
"""


def test_kill_between_removing_a_document_and_its_sidecar(tmp_path: Path) -> None:
    root = tmp_path / "home"
    root.mkdir()
    world = build_world(root, n_files=3, n_sidecars=1, n_replaces=1)
    with_sidecar = next(p for p in world.planned if p.sidecar is not None)
    crashed = Child(world, tmp_path / "crash.err", CRASH_BETWEEN_UNLINKS)
    assert crashed.finish() == -signal.SIGKILL
    again = Child(world, tmp_path / "again.err")
    assert again.finish() == 0
    vault = VaultReader(world)
    where, _ = vault.read()
    assert len(where[with_sidecar.token]) == 1  # filed once: the document left behind was a duplicate
    # and no sidecar is left waiting for a document that will never come
    assert inbox_files(world.inbox) == set(), f"left in the inbox: {sorted(inbox_files(world.inbox))}"
