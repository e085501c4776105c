"""No plaintext at rest: every canary (client names, titles, file names,
phrases) is looked for in every byte of every workspace's ``vault/``,
``index/`` and ``audit/`` and in the temp directory all its processes used,
and in every path name there. Runs last, over all sections' workspaces."""

from __future__ import annotations

from pathlib import Path

from common import Context

SECTION = "no plaintext"


def _files(ws) -> list[Path]:
    out = []
    for top in (ws.home_dir / "vault", ws.home_dir / "index", ws.home_dir / "audit", ws.tmp):
        if top.exists():
            out += [p for p in top.rglob("*") if p.is_file() and not p.is_symlink()]
    return out


def scan(ctx: Context) -> None:
    files = found = names = scanned = canaries = 0
    where: list[str] = []
    for ws in ctx.workspaces:
        needles = ws.canaries.needles()
        canaries += len({v for _, v, _ in needles})
        for path in _files(ws):
            files += 1
            rel = str(path.relative_to(ws.root))
            if any(v in rel for _, v, _ in needles):
                names += 1
                where.append(f"name: {rel}")
            data = path.read_bytes()
            scanned += len(data)
            for kind, value, b in needles:
                if b in data:
                    found += 1
                    where.append(f"{kind} {value!r} in {rel}")
                    break
    t = ctx.table
    t.add(SECTION, "canaries looked for / files / bytes scanned",
          f"{canaries} / {files} / {scanned / 2**20:.1f} MiB")
    t.zero(SECTION, "files holding a canary (vault, index, audit, temp)", found)
    t.zero(SECTION, "path names holding a canary", names)
    for w in where[:20]:
        print(f"    ! {w}")
