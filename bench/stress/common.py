"""The stress suite's common ground: a seeded archive with one user per
department, canary strings that must never reach the disk in plaintext,
documents to file, the CLI as a child process, and the table of figures.

Every section (``faults``, ``tamper``, ``badinput``, ``concurrency``,
``access``) gets a :class:`Workspace` and adds :class:`Row` s to the
:class:`Table`. Everything a section starts runs with ``TMPDIR`` inside the
workspace, so the final plaintext scan covers the temp directory too.
"""

from __future__ import annotations

import os
import random
import resource
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from ingest import Doc, Generator, docx_bytes, eml_bytes, pdf_bytes  # noqa: E402  (bench/ingest.py)

from archive_manager import accounts, clients  # noqa: E402
from archive_manager.home import ArchiveHome  # noqa: E402
from archive_manager.settings import load_settings  # noqa: E402

# Every file the suite writes (passphrase files above all) is private, as under the archive's
# own account: the archive refuses a passphrase file that group or others may read.
os.umask(0o077)

ARCHIVE = str(Path(sys.executable).with_name("archive"))

# one user per department; the passphrase of each is in <root>/secrets/<name>
USERS: dict[str, tuple[str, ...]] = {
    "alice": ("archive",),
    "svc": ("archive",),        # the inbox service user
    "bea": ("business",),
    "mark": ("marketing",),
    "carol": ("credit",),
    "bob": ("legal",),
    "mona": ("management",),
    "dave": ("audit",),
}


def passphrase(user: str) -> str:
    return f"{user}-stress-passphrase"


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


# --- canaries --------------------------------------------------------------------------

@dataclass
class Canaries:
    """Strings that go into client names, titles, file names and document
    text, and must appear nowhere on disk outside the inbox."""

    rng: random.Random
    values: dict[str, list[str]] = field(default_factory=lambda: {
        "client name": [], "title": [], "file name": [], "phrase": []})

    def _token(self) -> str:
        return "".join(self.rng.choice("QXZJVKWY") for _ in range(4)) + str(self.rng.randrange(10**5, 10**6))

    def new(self, kind: str) -> str:
        t = self._token()
        value = {
            "client name": f"鹭岛{t}文化传播有限公司",
            "title": f"机密标题{t}合同",
            "file name": f"canaryfile{t}",
            "phrase": f"绝密短语{t}暗号",
        }[kind]
        self.values[kind].append(value)
        return value

    def needles(self) -> list[tuple[str, str, bytes]]:
        """(kind, value, bytes to look for): UTF-8, and for Chinese values
        also GB18030, UTF-16 and the part after the prefix."""
        out = []
        for kind, values in self.values.items():
            for v in values:
                forms = {v.encode("utf-8"), v.encode("utf-16-le"), v.encode("gb18030")}
                core = v[2:-2] if kind != "file name" else v
                forms.add(core.encode("utf-8"))
                for b in forms:
                    out.append((kind, v, b))
        return out


# --- the workspace ---------------------------------------------------------------------

class Workspace:
    """An archive home under ``root/home`` with every user of :data:`USERS`
    and ``clients`` clients, some of them with canary names."""

    def __init__(self, root: Path, seed: int) -> None:
        self.root = root
        self.home_dir = root / "home"
        self.tmp = root / "tmp"
        self.secrets = root / "secrets"
        self.inbox = self.home_dir / "inbox"
        self.seed = seed
        self.rng = random.Random(seed)
        self.canaries = Canaries(random.Random(seed + 7))
        self.clients: dict[str, str] = {}
        for d in (self.home_dir, self.tmp, self.secrets):
            d.mkdir(parents=True, exist_ok=True)

    # settings and sign-in, in this process
    def env(self, user: str | None = None, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update({"ARCHIVE_HOME": str(self.home_dir), "ARCHIVE_KDF_PROFILE": "test", "TMPDIR": str(self.tmp)})
        env.pop("ARCHIVE_USER", None)
        env.pop("ARCHIVE_PASSPHRASE", None)
        if user is not None:
            env["ARCHIVE_USER"] = user
            env["ARCHIVE_PASSPHRASE"] = passphrase(user)
        env.update(extra)
        return env

    def open_home(self) -> ArchiveHome:
        return ArchiveHome(load_settings(self.home_dir, self.env()))

    def login(self, home: ArchiveHome, user: str):
        return home.login(user, passphrase(user))

    def secret_file(self, user: str) -> Path:
        return self.secrets / user

    def create(self, n_clients: int = 12, canary_clients: int = 3, quiet_seconds: float = 0.2) -> None:
        home = self.open_home()
        try:
            home.init("alice", passphrase("alice"))
            alice = self.login(home, "alice")
            for user, depts in USERS.items():
                self.secret_file(user).write_text(passphrase(user) + "\n", encoding="utf-8")
                if user != "alice":
                    accounts.add_user(alice, user, list(depts), passphrase(user))
            gen = Generator(self.seed)
            for c in gen.maker.clients[:n_clients]:
                self.clients[c.code] = c.name
            for i in range(canary_clients):
                self.clients[f"K{i + 1:03d}"] = self.canaries.new("client name")
            for code, name in self.clients.items():
                clients.add_client(alice, code, name)
        finally:
            home.close()
        config = self.home_dir / "archive.toml"
        text = config.read_text(encoding="utf-8")
        text = text.replace("quiet_seconds = 2 ", f"quiet_seconds = {quiet_seconds:g} ")
        text = text.replace('# user = "archive-service"', 'user = "svc"')
        text = text.replace('# passphrase_file = "/etc/archive-manager/service.pass"',
                            f'passphrase_file = "{self.secret_file("svc")}"')
        config.write_text(text, encoding="utf-8")

    # the CLI, as a child process
    def cli(self, *args: str, user: str | None = None, timeout: float = 300,
            env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([ARCHIVE, *args], env=env or self.env(user), capture_output=True,
                              timeout=timeout, cwd=self.root)

    def spawn(self, *args: str, user: str | None = None, **kw) -> subprocess.Popen:
        return subprocess.Popen([ARCHIVE, *args], env=self.env(user), cwd=self.root, **kw)

    # documents
    def documents(self, n: int, canary_share: float = 0.1) -> list[Doc]:
        """``n`` documents for the workspace's clients (deterministic); a
        share of them carries a canary title, file name and phrase."""
        gen = Generator(self.seed + 11)
        codes = sorted(self.clients)
        out = []
        for _ in range(n):
            d = gen.next()
            client = self.rng.choice(codes)
            rel = d.rel.split("/", 1)[1]
            if self.rng.random() < canary_share:
                title = self.canaries.new("title")
                phrase = self.canaries.new("phrase")
                fname = self.canaries.new("file name")
                text = f"{title}\n{phrase}\n档案编号 {d.token}"
                data = {"txt": lambda: text.encode("utf-8"), "docx": lambda: docx_bytes(title, text),
                        "pdf": lambda: pdf_bytes(title, text),
                        "eml": lambda: eml_bytes(title, text, gen.n, attach=False)}[d.fmt]()
                rel = f"{d.doc_type}/{title}_{fname}.{d.fmt}"
                d = Doc(rel, client, d.doc_type, d.fmt, d.token, data)
            out.append(Doc(f"{client}/{rel}", client, d.doc_type, d.fmt, d.token, d.data))
        return out

    def drop(self, doc: Doc, inbox: Path | None = None) -> Path:
        """Into the inbox the way a careful copier does: a ``.part`` name, then a rename."""
        path = (inbox or self.inbox) / doc.rel
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(path.name + ".part")
        part.write_bytes(doc.data)
        os.replace(part, path)
        return path


@dataclass
class Context:
    """What a section gets: its own workspaces under ``root``, the table, the
    seed, and ``quick`` (smaller counts, for the suite's own test)."""

    root: Path
    table: "Table"
    seed: int
    quick: bool = False
    workspaces: list[Workspace] = field(default_factory=list)

    def workspace(self, name: str, **create) -> Workspace:
        ws = Workspace(self.root / name, self.seed + len(self.workspaces))
        ws.create(**create)
        self.workspaces.append(ws)
        return ws

    def scale(self, full: int, quick: int) -> int:
        return quick if self.quick else full


def kill_tree(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    """Kill a child started with ``start_new_session=True`` and its workers."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    proc.wait()


# --- the table -------------------------------------------------------------------------

@dataclass
class Row:
    section: str
    measure: str
    value: str
    requirement: str = ""   # e.g. "= 0", "all"; empty: context only
    ok: bool | None = None  # None: context only


@dataclass
class Table:
    rows: list[Row] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def add(self, section: str, measure: str, value, requirement: str = "", ok: bool | None = None) -> None:
        self.rows.append(Row(section, measure, str(value), requirement, ok))
        mark = {True: "ok", False: "FAIL", None: ""}[ok]
        print(f"  [{section}] {measure}: {value} {requirement} {mark}".rstrip(), flush=True)

    def zero(self, section: str, measure: str, count: int) -> None:
        self.add(section, measure, count, "= 0", count == 0)

    def all(self, section: str, measure: str, got: int, of: int) -> None:
        self.add(section, measure, f"{got} / {of}", "all", got == of and of > 0)

    def failed(self) -> list[Row]:
        return [r for r in self.rows if r.ok is False]

    def render(self) -> str:
        heads = ("section", "measure", "value", "required", "")
        cells = [heads] + [(r.section, r.measure, r.value, r.requirement,
                            {True: "ok", False: "FAIL", None: ""}[r.ok]) for r in self.rows]
        widths = [max(_width(c[i]) for c in cells) for i in range(5)]
        lines = []
        for n, c in enumerate(cells):
            lines.append("| " + " | ".join(_pad(v, w) for v, w in zip(c, widths)) + " |")
            if n == 0:
                lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        return "\n".join(lines)


def _width(s: str) -> int:
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in s)


def _pad(s: str, w: int) -> str:
    return s + " " * (w - _width(s))
