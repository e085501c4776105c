"""``archive file``, ``ls``, ``get`` and ``verify``."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.cli.conftest import KDF_WARNING

CHINESE = "广告发布合同\n甲方：北京星辰传媒有限公司\n乙方：上海廣告有限公司 (traditional 廣告)\n".encode()
BINARY = bytes(range(256)) * 3 + b"\x00\xff\xfe\r\n\x1a" + bytes(reversed(range(256)))
FILED_KEYS = {"path", "doc_id", "version", "duplicate"}
LS_KEYS = {"doc_id", "client", "type", "class", "title", "number", "date", "version", "versions", "size",
           "original_name", "filed_at", "filed_by", "text", "text_reason"}
ALL_TYPES = ("admission-decision, admission-form, business-license, call-note, client-application, client-profile, "
             "complaint, contract, contract-amendment, credit-assessment, credit-report, dunning-letter, email, "
             "feedback, legal-review, marketing-review, minutes, monitoring-report, plan, production-file, "
             "project-review, qualification, receivable, requirements, survey")


def objects_of(cli):
    """The document versions' encrypted files (not their extracted texts, ``*.text.bin``)."""
    return sorted(p for p in (cli.home / "vault" / "dossiers").glob("*/*/objects/*.bin")
                  if not p.name.endswith(".text.bin"))


# --- file ----------------------------------------------------------------------


def test_file_single_text_output(cli):
    src = cli.write("合同.txt", CHINESE)
    r = cli.run("file", src, "--client", "C001", "--type", "contract", user="bob")
    assert r.exit_code == 0, r.output
    line = r.stdout.strip()
    assert line.startswith(f"{src}: C001-")
    assert line.endswith(" v1")
    assert r.stderr == ""


def test_file_json_shape(cli):
    src = cli.write("a.txt", "one")
    rows = cli.file(src)
    assert isinstance(rows, list) and len(rows) == 1
    assert set(rows[0]) == FILED_KEYS
    assert rows[0]["path"] == str(src)
    assert rows[0]["version"] == 1
    assert rows[0]["duplicate"] is False
    assert rows[0]["doc_id"].startswith("C001-")


def test_file_multiple(cli):
    a = cli.write("a.txt", "alpha")
    b = cli.write("b.txt", "beta")
    c = cli.write("c.bin", BINARY)
    rows = cli.file(a, b, c, doc_type="minutes")
    assert [r["path"] for r in rows] == [str(a), str(b), str(c)]
    assert all(set(r) == FILED_KEYS for r in rows)
    assert len({r["doc_id"] for r in rows}) == 3
    assert all(r["version"] == 1 and r["duplicate"] is False for r in rows)
    listed = json.loads(cli.run("ls", "--json", user="alice").stdout)
    assert sorted(r["doc_id"] for r in listed) == sorted(r["doc_id"] for r in rows)


def test_refile_identical_content_is_duplicate(cli):
    src = cli.write("a.txt", "same bytes")
    first = cli.file(src)[0]
    n_objects = len(objects_of(cli))
    again = cli.file(src)[0]
    assert again == {**first, "duplicate": True}
    # under another name, too
    copy = cli.write("copy.txt", "same bytes")
    third = cli.file(copy)[0]
    assert third["doc_id"] == first["doc_id"] and third["duplicate"] is True and third["version"] == 1
    assert len(objects_of(cli)) == n_objects
    r = cli.run("file", src, "--client", "C001", "--type", "contract", user="alice")
    assert r.stdout == f"{src}: duplicate of {first['doc_id']} v1\n"
    rows = json.loads(cli.run("ls", "--json", user="alice").stdout)
    assert len(rows) == 1


def test_file_replaces_makes_version_2(cli):
    v1 = cli.write("合同.txt", CHINESE)
    doc = cli.file(v1)[0]["doc_id"]
    v2 = cli.write("合同-修订.txt", CHINESE + "补充条款\n".encode())
    row = cli.file(v2, extra=("--replaces", doc))[0]
    assert row == {"path": str(v2), "doc_id": doc, "version": 2, "duplicate": False}

    listed = json.loads(cli.run("ls", "--json", user="alice").stdout)
    assert len(listed) == 1
    assert listed[0]["version"] == 2 and listed[0]["versions"] == 2
    assert listed[0]["original_name"] == "合同-修订.txt"

    # replacing with the latest content again is a duplicate of v2
    again = cli.file(v2, extra=("--replaces", doc))[0]
    assert again == {"path": str(v2), "doc_id": doc, "version": 2, "duplicate": True}


def test_file_replaces_errors(cli):
    a = cli.write("a.txt", "a")
    doc = cli.file(a)[0]["doc_id"]
    b = cli.write("b.txt", "b")
    c = cli.write("c.txt", "c")

    r = cli.run("file", b, c, "--client", "C001", "--type", "contract", "--replaces", doc, user="alice")
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines() == ["archive: error: --title, --number and --replaces take a single file"]

    missing = "C001-aaaaaaaa"
    r = cli.run("file", b, "--client", "C001", "--type", "contract", "--replaces", missing, user="alice")
    assert r.exit_code == 4, r.output
    assert f"archive: error: {b}: no contract document '{missing}' for client 'C001'" in r.stderr.splitlines()

    # a type of another class cannot replace a contract
    r = cli.run("file", b, "--client", "C001", "--type", "minutes", "--replaces", doc, user="alice")
    assert r.exit_code == 4, r.output

    r = cli.run("file", b, "--client", "C001", "--type", "contract", "--replaces", "not-an-id", user="alice")
    assert r.exit_code == 2, r.output
    assert f"archive: error: {b}: invalid document id 'not-an-id'" in r.stderr.splitlines()


def test_file_with_title_and_date(cli):
    src = cli.write("scan-0001.pdf", b"%PDF-1.4 fake")
    doc = cli.file(src, extra=("--title", "年度广告合同", "--date", "2026-03-01"))[0]["doc_id"]
    row = json.loads(cli.run("ls", "--json", user="alice").stdout)[0]
    assert row["doc_id"] == doc
    assert row["title"] == "年度广告合同"
    assert row["date"] == "2026-03-01"
    assert row["original_name"] == "scan-0001.pdf"


def test_file_invalid_date(cli):
    src = cli.write("a.txt", "a")
    r = cli.run("file", src, "--client", "C001", "--type", "contract", "--date", "2026-02-30", user="alice")
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines() == [
        f"archive: error: {src}: invalid date '2026-02-30'",
        "archive: hint: use YYYY-MM-DD, e.g. 2026-03-01",
    ]
    assert r.stdout == ""
    assert objects_of(cli) == []


def test_file_unknown_type_lists_types(cli):
    src = cli.write("a.txt", "a")
    r = cli.run("file", src, "--client", "C001", "--type", "invoice", user="alice")
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines() == [
        f"archive: error: {src}: unknown document type 'invoice'",
        f"archive: hint: known types: {ALL_TYPES}",
    ]
    assert objects_of(cli) == []


def test_file_missing_file(cli):
    missing = cli.workdir / "nope.txt"
    r = cli.run("file", missing, "--client", "C001", "--type", "contract", user="alice")
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines() == [f"archive: error: {missing}: no such file: {missing}"]


def test_file_directory_is_not_a_file(cli):
    r = cli.run("file", cli.workdir, "--client", "C001", "--type", "contract", user="alice")
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines() == [f"archive: error: {cli.workdir}: not a regular file: {cli.workdir}"]


def test_file_partial_failure_files_the_rest(cli):
    good = cli.write("good.txt", "good")
    missing = cli.workdir / "missing.txt"
    r = cli.run("file", good, missing, "--client", "C001", "--type", "contract", "--json", user="alice")
    assert r.exit_code == 2, r.output
    rows = json.loads(r.stdout)
    assert [row["path"] for row in rows] == [str(good)]
    assert f"archive: error: {missing}: no such file: {missing}" in r.stderr.splitlines()
    assert len(json.loads(cli.run("ls", "--json", user="alice").stdout)) == 1


def test_file_unknown_client(cli):
    src = cli.write("a.txt", "a")
    r = cli.run("file", src, "--client", "C999", "--type", "contract", user="alice")
    assert r.exit_code == 4, r.output
    assert r.stderr.splitlines() == [
        f"archive: error: {src}: unknown client 'C999'",
        "archive: hint: 'archive client list' shows the clients",
    ]


def test_file_forbidden_class(cli):
    src = cli.write("a.txt", "a")
    r = cli.run("file", src, "--client", "C001", "--type", "contract", user="carol")
    assert r.exit_code == 3, r.output
    assert (f"archive: error: {src}: user 'carol' (credit) may not file documents of class 'contract'"
            in r.stderr.splitlines())
    assert objects_of(cli) == []


def test_file_needs_arguments(cli):
    r = cli.run("file", "--client", "C001", "--type", "contract", user="alice")
    assert r.exit_code == 2
    assert "Missing argument" in r.stderr


# --- ls ------------------------------------------------------------------------


def _populate(cli):
    contract = cli.file(cli.write("合同.txt", CHINESE), user="bob")[0]["doc_id"]
    report = cli.file(cli.write("report.txt", "credit ok"), doc_type="credit-report", user="carol")[0]["doc_id"]
    complaint = cli.file(cli.write("complaint.txt", "late"), doc_type="complaint", user="alice")[0]["doc_id"]
    return contract, report, complaint


def test_ls_json_rows(cli):
    contract, report, complaint = _populate(cli)
    r = cli.run("ls", "--json", user="alice")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert all(set(row) == LS_KEYS for row in rows)
    assert sorted(row["doc_id"] for row in rows) == sorted([contract, report, complaint])
    by_id = {row["doc_id"]: row for row in rows}
    assert by_id[contract]["class"] == "contract"
    assert by_id[contract]["title"] == "合同"
    assert by_id[contract]["size"] == len(CHINESE)
    assert by_id[contract]["filed_by"] == "bob"
    assert by_id[report]["type"] == "credit-report" and by_id[report]["class"] == "credit"


def test_ls_filters(cli):
    contract, report, complaint = _populate(cli)
    rows = json.loads(cli.run("ls", "--type", "contract", "--json", user="alice").stdout)
    assert [row["doc_id"] for row in rows] == [contract]
    rows = json.loads(cli.run("ls", "--client", "C001", "--type", "complaint", "--json", user="alice").stdout)
    assert [row["doc_id"] for row in rows] == [complaint]

    assert cli.run("client", "add", "C002", "--name", "Other Ltd", user="alice").exit_code == 0
    other = cli.file(cli.write("o.txt", "other"), client="C002")[0]["doc_id"]
    rows = json.loads(cli.run("ls", "--client", "C002", "--json", user="alice").stdout)
    assert [row["doc_id"] for row in rows] == [other]
    rows = json.loads(cli.run("ls", "--client", "C001", "--json", user="alice").stdout)
    assert other not in {row["doc_id"] for row in rows}


def test_ls_shows_only_readable_classes(cli):
    contract, report, complaint = _populate(cli)
    bob = {row["doc_id"] for row in json.loads(cli.run("ls", "--json", user="bob").stdout)}
    assert bob == {contract, complaint}
    carol = {row["doc_id"] for row in json.loads(cli.run("ls", "--json", user="carol").stdout)}
    assert carol == {report}


def test_ls_text_table(cli):
    contract, _, _ = _populate(cli)
    r = cli.run("ls", "--type", "contract", user="bob")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["DOC_ID", "CLIENT", "TYPE", "DATE", "V", "TITLE", "TEXT"]
    assert lines[1].split()[:3] == [contract, "C001", "contract"]
    assert lines[1].split()[-2:] == ["合同", "ok"]


def test_ls_empty_and_errors(cli):
    r = cli.run("ls", user="alice")
    assert r.exit_code == 0 and r.stdout == "(none)\n"
    assert json.loads(cli.run("ls", "--json", user="alice").stdout) == []
    r = cli.run("ls", "--client", "C999", user="alice")
    assert r.exit_code == 4, r.output
    assert "archive: error: unknown client 'C999'" in r.stderr.splitlines()
    r = cli.run("ls", "--type", "invoice", user="alice")
    assert r.exit_code == 2, r.output
    assert "archive: error: unknown document type 'invoice'" in r.stderr.splitlines()


# --- get -----------------------------------------------------------------------


def test_get_stdout_exact_bytes(cli):
    text = cli.file(cli.write("合同.txt", CHINESE))[0]["doc_id"]
    binary = cli.file(cli.write("blob.bin", BINARY))[0]["doc_id"]
    empty = cli.file(cli.write("empty.txt", b""))[0]["doc_id"]
    for doc, content in ((text, CHINESE), (binary, BINARY), (empty, b"")):
        r = cli.run("get", doc, user="bob")
        assert r.exit_code == 0, r.output
        assert r.stdout_bytes == content
        assert r.stderr == ""


def test_get_to_file(cli):
    doc = cli.file(cli.write("blob.bin", BINARY))[0]["doc_id"]
    out = cli.workdir / "导出" / "out.bin"
    out.parent.mkdir()
    r = cli.run("get", doc, "-o", out, user="alice")
    assert r.exit_code == 0, r.output
    assert out.read_bytes() == BINARY
    assert r.stdout == ""
    assert r.stderr.startswith(f"wrote {out} ({len(BINARY)} bytes, {doc} v1, sha256 ")
    assert hashlib.sha256(BINARY).hexdigest()[:16] in r.stderr
    assert [p.name for p in out.parent.iterdir()] == ["out.bin"]  # no temp files left


def test_get_json_with_output(cli):
    doc = cli.file(cli.write("合同.txt", CHINESE))[0]["doc_id"]
    out = cli.workdir / "out.txt"
    r = cli.run("get", doc, "-o", out, "--json", user="alice")
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["doc_id"] == doc and info["version"] == 1
    assert info["sha256"] == hashlib.sha256(CHINESE).hexdigest()
    assert info["size"] == len(CHINESE)
    assert out.read_bytes() == CHINESE


def test_get_json_without_output_is_bad_input(cli):
    doc = cli.file(cli.write("a.txt", "a"))[0]["doc_id"]
    r = cli.run("get", doc, "--json", user="alice")
    assert r.exit_code == 2, r.output
    assert r.stdout == ""
    assert r.stderr.splitlines() == [
        "archive: error: --json needs -o FILE (the document itself goes to stdout otherwise)"]


def test_get_older_version(cli):
    doc = cli.file(cli.write("v1.txt", "version one"))[0]["doc_id"]
    cli.file(cli.write("v2.txt", "version two"), extra=("--replaces", doc))
    assert cli.run("get", doc, user="alice").stdout_bytes == b"version two"
    assert cli.run("get", doc, "--version", "2", user="alice").stdout_bytes == b"version two"
    r = cli.run("get", doc, "--version", "1", user="alice")
    assert r.exit_code == 0, r.output
    assert r.stdout_bytes == b"version one"
    out = cli.workdir / "v1-out.txt"
    assert cli.run("get", doc, "--version", "1", "-o", out, user="alice").exit_code == 0
    assert out.read_bytes() == b"version one"

    r = cli.run("get", doc, "--version", "3", user="alice")
    assert r.exit_code == 4, r.output
    assert r.stdout_bytes == b""
    assert r.stderr.splitlines() == [f"archive: error: document '{doc}' has no version 3",
                                     "archive: hint: versions 1 to 2 exist"]
    r = cli.run("get", doc, "--version", "0", user="alice")
    assert r.exit_code == 2


def test_get_forbidden_document_gives_nothing(cli):
    doc = cli.file(cli.write("合同.txt", CHINESE), user="bob")[0]["doc_id"]
    r = cli.run("get", doc, user="carol")
    assert r.exit_code in (3, 4), r.output
    assert r.stdout_bytes == b""
    assert r.stderr.startswith("archive: error: ")
    assert "广告" not in r.output
    out = cli.workdir / "stolen.txt"
    r = cli.run("get", doc, "-o", out, user="carol")
    assert r.exit_code in (3, 4), r.output
    assert not out.exists()
    assert list(cli.workdir.glob("*stolen*")) == []


def test_export_needs_the_export_grant_reading_does_not(cli):
    """Marketing may read and search the business class but not export: its
    members see a document on the terminal, but `get -o` is refused, audited
    as a denied export, and leaves no file."""
    pw = cli.passfile("mia", "mia-pw")
    r = cli.run("user", "add", "mia", "--dept", "marketing", "--new-passphrase-file", pw, user="alice")
    assert r.exit_code == 0, r.output
    doc = cli.file(cli.write("需求.txt", "客户需求 全年户外投放"), doc_type="requirements")[0]["doc_id"]
    r = cli.run("get", doc, user="mia")
    assert r.exit_code == 0, r.output
    assert r.stdout_bytes == "客户需求 全年户外投放".encode()
    out = cli.workdir / "copy.txt"
    r = cli.run("get", doc, "-o", out, user="mia")
    assert r.exit_code == 3, r.output
    assert "may not export documents of class 'business'" in r.stderr
    assert not out.exists() and list(cli.workdir.glob("*copy*")) == []
    r = cli.run("get", doc, "-o", out, user="alice")  # the archive department may export
    assert r.exit_code == 0, r.output
    assert out.read_bytes() == "客户需求 全年户外投放".encode()
    events = [json.loads(line) for line in (cli.home / "audit" / "events.log").read_text().splitlines()]
    denied = [e for e in events if e["action"] == "export" and e["user"] == "mia"]
    assert [e["outcome"] for e in denied] == ["denied"]


def test_get_errors(cli):
    r = cli.run("get", "bogus", user="alice")
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines() == ["archive: error: invalid document id 'bogus'",
                                     "archive: hint: ids look like C001-k3m9q2xa; see 'archive ls'"]
    r = cli.run("get", "C001-aaaaaaaa", user="alice")
    assert r.exit_code == 4, r.output
    assert r.stderr.splitlines()[0].startswith("archive: error: no document 'C001-aaaaaaaa' among the classes")
    assert r.stderr.splitlines()[1] == "archive: hint: 'archive ls --client C001' lists what you may read"
    doc = cli.file(cli.write("a.txt", "a"))[0]["doc_id"]
    r = cli.run("get", doc, "-o", cli.workdir / "no-dir" / "x.txt", user="alice")
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines() == [f"archive: error: no such directory: {cli.workdir / 'no-dir'}"]
    r = cli.run("get", doc, "-o", cli.workdir, user="alice")
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines() == [f"archive: error: {cli.workdir} is a directory",
                                     "archive: hint: give a file name with -o"]


# --- verify --------------------------------------------------------------------


def test_verify_clean(cli):
    _populate(cli)
    r = cli.run("verify", user="alice")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].startswith("checked 1 clients, 4 class slots, 3 documents, 3 versions, ")
    assert lines[-1] == "ok"
    data = json.loads(cli.run("verify", "--json", user="alice").stdout)
    assert data["ok"] is True and data["problems"] == []
    assert data["checked"]["documents"] == 3


def test_verify_partial_view(cli):
    _populate(cli)
    r = cli.run("verify", user="carol")
    assert r.exit_code == 0, r.output
    assert "not checked (no key): business, communication, contract, project, service" in r.stdout.splitlines()
    assert r.stdout.splitlines()[-1] == "ok"


def _flip_byte(path, offset=None):
    data = bytearray(path.read_bytes())
    i = len(data) // 2 if offset is None else offset
    data[i] ^= 0x01
    path.write_bytes(bytes(data))


def test_verify_detects_tampering(cli):
    doc = cli.file(cli.write("合同.txt", CHINESE))[0]["doc_id"]
    objs = objects_of(cli)
    assert len(objs) == 1
    _flip_byte(objs[0])
    r = cli.run("verify", user="alice")
    assert r.exit_code == 1, r.output
    problems = [line for line in r.stdout.splitlines() if line.startswith("PROBLEM ")]
    assert len(problems) == 1
    assert problems[0].startswith(f"PROBLEM {doc} v1: ")
    assert r.stdout.splitlines()[-1] == "1 problem(s) found"

    data = json.loads(cli.run("verify", "--json", user="alice").stdout)
    assert data["ok"] is False
    assert [(p["doc_id"], p["version"], p["client"]) for p in data["problems"]] == [(doc, 1, "C001")]

    # reading the tampered document fails with an integrity error and yields nothing
    r = cli.run("get", doc, user="alice")
    assert r.exit_code == 5, r.output
    assert r.stdout_bytes == b""
    assert r.stderr.startswith("archive: error: ")
    out = cli.workdir / "out.txt"
    r = cli.run("get", doc, "-o", out, user="alice")
    assert r.exit_code == 5, r.output
    assert not out.exists()
    assert list(cli.workdir.glob(".out.txt*")) == []


def test_verify_detects_tampering_in_each_version(cli):
    doc = cli.file(cli.write("v1.txt", "version one " * 50))[0]["doc_id"]
    cli.file(cli.write("v2.txt", "version two " * 50), extra=("--replaces", doc))
    objs = objects_of(cli)
    assert len(objs) == 2
    for obj in objs:
        _flip_byte(obj, offset=len(obj.read_bytes()) - 1)
    r = cli.run("verify", user="alice")
    assert r.exit_code == 1, r.output
    problems = sorted(line.split(":")[0] for line in r.stdout.splitlines() if line.startswith("PROBLEM "))
    assert problems == [f"PROBLEM {doc} v1", f"PROBLEM {doc} v2"]


def test_verify_truncated_and_missing_object(cli):
    a = cli.file(cli.write("a.txt", "alpha " * 100))[0]["doc_id"]
    b = cli.file(cli.write("b.txt", "beta " * 100))[0]["doc_id"]
    rows = json.loads(cli.run("verify", "--json", user="alice").stdout)
    assert rows["ok"] is True
    objs = objects_of(cli)
    objs[0].write_bytes(objs[0].read_bytes()[:-10])
    objs[1].unlink()
    r = cli.run("verify", "--json", user="alice")
    assert r.exit_code == 1, r.output
    data = json.loads(r.stdout)
    assert sorted(p["doc_id"] for p in data["problems"]) == sorted([a, b])


def test_verify_notes_unreferenced_file(cli):
    cli.file(cli.write("a.txt", "a"))
    obj = objects_of(cli)[0]
    (obj.parent / "stray.bin").write_bytes(b"junk")
    r = cli.run("verify", user="alice")
    assert r.exit_code == 0, r.output
    assert any(line.startswith("note: ") and "objects/stray.bin" in line for line in r.stdout.splitlines())


def test_kdf_warning_only_where_keyrings_are_made(cli):
    r = cli.run("ls", user="alice")
    assert KDF_WARNING not in r.stderr


def test_file_same_path_twice_in_one_call(cli):
    src = cli.write("a.txt", "twice")
    rows = cli.file(src, src)
    assert len(rows) == 2
    assert rows[0]["doc_id"] == rows[1]["doc_id"]
    assert [r["duplicate"] for r in rows] == [False, True]


def test_file_title_takes_a_single_file(cli):
    a, b = cli.write("a.txt", "a"), cli.write("b.txt", "b")
    r = cli.run("file", a, b, "--client", "C001", "--type", "contract", "--title", "T", user="alice")
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines() == ["archive: error: --title, --number and --replaces take a single file"]
    assert objects_of(cli) == []


def test_file_replaces_document_of_another_client(cli):
    assert cli.run("client", "add", "C002", "--name", "Other", user="alice").exit_code == 0
    doc = cli.file(cli.write("a.txt", "a"))[0]["doc_id"]
    b = cli.write("b.txt", "b")
    r = cli.run("file", b, "--client", "C002", "--type", "contract", "--replaces", doc, user="alice")
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines() == [f"archive: error: {b}: document '{doc}' does not belong to client 'C002'"]


# --- output into a pipe whose reader went away (archive ls | head -1) --------------


def run_into_closed_pipe(cli, *args, user="alice") -> subprocess.CompletedProcess:
    """Run ``archive`` as a process whose stdout reader closes the pipe before
    anything is written, as ``head`` does once it has its lines."""
    script = Path(sys.executable).parent / "archive"
    command = [str(script)] if script.exists() else [sys.executable, "-c",
                                                      "from archive_manager.cli import main; main()"]
    env = {k: v for k, v in cli.env(user).items() if v is not None}
    env["PATH"] = os.environ.get("PATH", "")
    proc = subprocess.Popen([*command, *map(str, args)], env=env, cwd=cli.workdir, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, b"", err)


def test_a_reader_that_went_away_ends_the_command_quietly(cli):
    for n in range(3):
        cli.file(cli.write(f"合同{n}.txt", CHINESE + str(n).encode()))
    big = cli.file(cli.write("big.bin", os.urandom(1 << 20)))[0]["doc_id"]  # more than a pipe holds
    for args in (("ls",), ("ls", "--json"), ("get", big), ("audit", "verify")):
        r = run_into_closed_pipe(cli, *args)
        assert (r.returncode, r.stderr.decode()) == (141, ""), args


def test_file_refuses_a_title_with_a_control_character(cli):
    src = cli.write("合同.txt", "广告发布合同")
    r = cli.run("file", src, "--client", "C001", "--type", "contract", "--title", "合同\x1b[31m", user="bob")
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines() == [f"archive: error: {src}: the title contains a control character U+001B",
                                     "archive: hint: remove control characters; type the value as plain text"]
    assert cli.run("ls", user="bob").stdout.strip() == "(none)"
