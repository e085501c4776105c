"""``archive file --number``, ``archive doc edit`` and ``archive doc show`` (issue 15.5)."""

from __future__ import annotations

import json


def filed(cli, *extra, name="合同.txt", text="广告发布合同 正文 redshank", user="bob") -> str:
    [row] = cli.file(cli.write(name, text), user=user, extra=("--title", "广告发布合同", "--date", "2026-03-01",
                                                               *extra))
    return row["doc_id"]


def ls_row(cli, doc_id: str, user: str = "bob") -> dict:
    rows = json.loads(cli.run("ls", "--json", user=user).stdout)
    return next(r for r in rows if r["doc_id"] == doc_id)


def test_file_number_sets_the_documents_number(cli):
    doc_id = filed(cli, "--number", "HT-2026-088")
    assert ls_row(cli, doc_id)["number"] == "HT-2026-088"
    r = cli.run("search", "HT-2026-088", "--json", user="bob")
    assert [h["doc_id"] for h in json.loads(r.stdout)["hits"]] == [doc_id]


def test_file_number_takes_a_single_file_and_a_valid_number(cli):
    a, b = cli.write("a.txt", "alpha"), cli.write("b.txt", "beta")
    r = cli.run("file", a, b, "--client", "C001", "--type", "contract", "--number", "HT-1", user="bob")
    assert r.exit_code == 2
    assert r.stderr.startswith("archive: error: --title, --number and --replaces take a single file")
    r = cli.run("file", a, "--client", "C001", "--type", "contract", "--number", "H" * 65, user="bob")
    assert r.exit_code == 2
    assert "archive: error: " in r.stderr and "the number is too long (65 characters, at most 64)" in r.stderr
    assert json.loads(cli.run("ls", "--json", user="bob").stdout) == []


def test_doc_edit_says_what_changed_and_keeps_the_bytes(cli):
    doc_id = filed(cli, "--number", "HT-2026-001")
    r = cli.run("doc", "edit", doc_id, "--number", "HT-2026-088", "--title", "广告发布合同（正式）", "--date",
                "2026-03-05", user="bob")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == [f"edited {doc_id} (version 1; the stored file is unchanged)",
                                     "  title: 广告发布合同 → 广告发布合同（正式）",
                                     "  number: HT-2026-001 → HT-2026-088",
                                     "  date: 2026-03-01 → 2026-03-05"]
    assert r.stderr == ""
    row = ls_row(cli, doc_id)
    assert (row["title"], row["number"], row["date"], row["versions"]) == (
        "广告发布合同（正式）", "HT-2026-088", "2026-03-05", 1)
    r = cli.run("get", doc_id, user="bob")
    assert r.stdout_bytes == "广告发布合同 正文 redshank".encode()
    r = cli.run("doc", "edit", doc_id, "--number", "HT-2026-088", user="bob")
    assert (r.exit_code, r.stdout) == (0, f"nothing changed: {doc_id} already holds these values\n")
    r = cli.run("doc", "edit", doc_id, "--number", "", "--json", user="alice")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert set(data) == {"doc_id", "client", "changes", "document", "warnings"}
    assert [(c["field"], c["old"], c["new"], c["by"], c["version"]) for c in data["changes"]] == [
        ("number", "HT-2026-088", None, "alice", 1)]
    assert data["document"]["number"] is None and data["warnings"] == []
    assert cli.run("verify", user="alice").exit_code == 0


def test_doc_show_and_its_history(cli):
    doc_id = filed(cli, "--number", "HT-2026-001")
    assert cli.run("doc", "edit", doc_id, "--number", "HT-2026-002", user="alice").exit_code == 0
    assert cli.run("doc", "edit", doc_id, "--title", "框架协议", user="bob").exit_code == 0
    r = cli.run("doc", "show", doc_id, user="bob")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[:7] == [f"{doc_id}  C001  contract (class contract)", "  title: 框架协议",
                         "  number: HT-2026-002", "  date: 2026-03-01", "  file: 合同.txt", "  text: ok",
                         "versions:"]
    assert lines[7].startswith("  v1  2026-03-01  合同.txt  ") and lines[7].endswith(" by bob")
    assert "history:" not in lines
    r = cli.run("doc", "show", doc_id, "--history", user="bob")
    lines = r.stdout.splitlines()
    assert lines[8] == "history:"
    assert [line.split()[1:] for line in lines[9:]] == [
        ["alice", "v1", "number:", "HT-2026-001", "→", "HT-2026-002"],
        ["bob", "v1", "title:", "广告发布合同", "→", "框架协议"]]
    assert all(line.startswith("  20") for line in lines[9:])
    data = json.loads(cli.run("doc", "show", doc_id, "--history", "--json", user="bob").stdout)
    assert [(h["field"], h["old"], h["new"], h["by"]) for h in data["history"]] == [
        ("number", "HT-2026-001", "HT-2026-002", "alice"), ("title", "广告发布合同", "框架协议", "bob")]
    assert [v["version"] for v in data["versions"]] == [1]
    other = filed(cli, name="b.txt", text="另一份")
    r = cli.run("doc", "show", other, "--history", user="bob")
    assert r.stdout.splitlines()[-2:] == ["history:", "  (none)"]


def test_doc_edit_refusals_print_error_and_hint_and_write_nothing(cli):
    doc_id = filed(cli)
    vault = {p: p.read_bytes() for p in (cli.home / "vault").rglob("*") if p.is_file()}
    cases = [
        (("doc", "edit", doc_id), "bob", 2, "nothing to change", "pass --title, --number or --date"),
        (("doc", "edit", doc_id, "--date", "2026-02-30"), "bob", 2, "invalid date '2026-02-30'", None),
        (("doc", "edit", doc_id, "--title", " "), "bob", 2, "the title is empty", None),
        (("doc", "edit", doc_id, "--number", "x"), "carol", 4,
         f"no document {doc_id!r} among the classes you may change (basic, credit)", None),
        (("doc", "edit", "C001-abcdefgh", "--number", "x"), "bob", 4,
         "no document 'C001-abcdefgh' among the classes you may change (basic, contract, service)", None),
        (("doc", "edit", "nonsense", "--number", "x"), "bob", 2, "invalid document id 'nonsense'", None),
        (("doc", "show", doc_id), "carol", 4, f"no document {doc_id!r} among the classes you may read", None),
    ]
    for args, user, code, message, hint in cases:
        r = cli.run(*args, user=user)
        assert r.exit_code == code, (args, r.output)
        assert r.stderr.splitlines()[0].startswith(f"archive: error: {message}"), (args, r.stderr)
        if hint:
            assert r.stderr.splitlines()[1] == f"archive: hint: {hint}"
    assert {p: p.read_bytes() for p in (cli.home / "vault").rglob("*") if p.is_file()} == vault
