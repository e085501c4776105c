"""Tampered vault files seen from the CLI: verify lists them (exit 1), reads fail with exit 5,
and never with a traceback."""

from __future__ import annotations

import json
import struct

MAGIC = b"AMSF1\n"


def _slot_dirs(cli):
    return sorted(p for p in (cli.home / "vault" / "dossiers").glob("*/*") if (p / "objects").is_dir())


def _objects(cli):
    """The document versions' encrypted files (not their extracted texts, ``*.text.bin``)."""
    return sorted(p for p in (cli.home / "vault" / "dossiers").glob("*/*/objects/*.bin")
                  if not p.name.endswith(".text.bin"))


def _rewrite_header(path, change):
    """Replace the JSON header of a sealed file with ``change(header_text)`` (length fixed up)."""
    data = path.read_bytes()
    assert data.startswith(MAGIC)
    (length,) = struct.unpack(">I", data[len(MAGIC):len(MAGIC) + 4])
    start = len(MAGIC) + 4
    header = data[start:start + length].decode()
    new = change(header).encode()
    assert new != header.encode()
    path.write_bytes(MAGIC + struct.pack(">I", len(new)) + new + data[start + length:])


def _problems(cli, user="alice"):
    r = cli.run("verify", "--json", user=user)
    return r, json.loads(r.stdout)


def test_swapped_documents_are_detected(cli):
    a = cli.file(cli.write("a.txt", "document A " * 20))[0]["doc_id"]
    b = cli.file(cli.write("b.txt", "document B " * 20))[0]["doc_id"]
    objs = _objects(cli)
    assert len(objs) == 2
    one, two = objs[0].read_bytes(), objs[1].read_bytes()
    objs[0].write_bytes(two)
    objs[1].write_bytes(one)
    r, report = _problems(cli)
    assert r.exit_code == 1, r.output
    assert sorted(p["doc_id"] for p in report["problems"]) == sorted([a, b])
    for doc in (a, b):
        g = cli.run("get", doc, user="alice")
        assert g.exit_code == 5, g.output
        assert g.stdout_bytes == b""


def test_old_version_replayed_over_new_one_is_detected(cli):
    doc = cli.file(cli.write("v1.txt", "version one"))[0]["doc_id"]
    cli.file(cli.write("v2.txt", "version two"), extra=("--replaces", doc))
    info = {v: json.loads(cli.run("get", doc, "--version", v, "-o", cli.workdir / f"v{v}", "--json",
                                  user="alice").stdout) for v in (1, 2)}
    assert info[1]["sha256"] != info[2]["sha256"]
    objs = _objects(cli)
    assert len(objs) == 2
    blobs = {o: o.read_bytes() for o in objs}
    for o in objs:  # every object becomes a copy of the other one
        other = next(x for x in objs if x != o)
        o.write_bytes(blobs[other])
    r, report = _problems(cli)
    assert r.exit_code == 1, r.output
    assert sorted((p["doc_id"], p["version"]) for p in report["problems"]) == [(doc, 1), (doc, 2)]


def test_document_moved_to_another_client_is_detected(cli):
    assert cli.run("client", "add", "C002", "--name", "Other", user="alice").exit_code == 0
    mine = cli.file(cli.write("a.txt", "for C001 " * 10))[0]["doc_id"]
    theirs = cli.file(cli.write("b.txt", "for C002 " * 10), client="C002")[0]["doc_id"]
    objs = _objects(cli)
    assert len(objs) == 2
    objs[0].write_bytes(objs[1].read_bytes())
    r, report = _problems(cli)
    assert r.exit_code == 1, r.output
    assert len(report["problems"]) == 1
    assert report["problems"][0]["doc_id"] in (mine, theirs)


def test_tampered_metadata_is_reported_without_traceback(cli):
    doc = cli.file(cli.write("a.txt", "a"))[0]["doc_id"]
    (slot,) = _slot_dirs(cli)
    meta = slot / "meta.bin"
    data = bytearray(meta.read_bytes())
    data[-5] ^= 0x40
    meta.write_bytes(bytes(data))
    r = cli.run("verify", user="alice")
    assert r.exit_code == 1, r.output
    assert any(line.startswith("PROBLEM client C001, class contract: ") for line in r.stdout.splitlines())
    for command in (["ls"], ["get", doc]):
        r = cli.run(*command, user="alice")
        assert r.exit_code == 5, (command, r.output)
        assert r.stdout_bytes == b""
        assert r.stderr.startswith("archive: error: "), r.stderr


def test_document_header_with_null_epoch_is_an_integrity_problem(cli):
    doc = cli.file(cli.write("a.txt", "a"))[0]["doc_id"]
    (obj,) = _objects(cli)
    _rewrite_header(obj, lambda h: h.replace('"epoch":1', '"epoch":null'))
    r = cli.run("verify", user="alice")
    assert r.exit_code == 1, r.output
    assert any(line.startswith(f"PROBLEM {doc} v1: ") for line in r.stdout.splitlines())
    r = cli.run("get", doc, user="alice")
    assert r.exit_code == 5, r.output
    assert r.stdout_bytes == b""


def test_metadata_header_with_bad_epoch_is_an_integrity_problem(cli):
    cli.file(cli.write("a.txt", "a"))
    (slot,) = _slot_dirs(cli)
    _rewrite_header(slot / "meta.bin", lambda h: h.replace('"epoch":1', '"epoch":[1]'))
    r = cli.run("ls", user="alice")
    assert r.exit_code == 5, r.output
    r = cli.run("verify", user="alice")
    assert r.exit_code == 1, r.output
    assert any(line.startswith("PROBLEM client C001, class contract: ") for line in r.stdout.splitlines())


def test_garbage_object_file(cli):
    doc = cli.file(cli.write("a.txt", "a"))[0]["doc_id"]
    (obj,) = _objects(cli)
    obj.write_bytes(b"not a sealed file at all")
    r = cli.run("verify", user="alice")
    assert r.exit_code == 1, r.output
    assert any(line.startswith(f"PROBLEM {doc} v1: ") and "bad magic" in line for line in r.stdout.splitlines())
