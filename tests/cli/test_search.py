"""``archive search`` and ``archive reindex`` from the command line; notes for
documents filed without text; no side channel through output or exit codes."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from archive_manager import searching
from tests.cli.conftest import Cli
from tests.cli.test_documents import ALL_TYPES
from tests.search_corpus import UNKNOWN_BINARY
from tests.test_searching import damage_every_page

HIT_KEYS = {"doc_id", "client", "type", "class", "title", "date", "score", "snippet"}
REPORT_KEYS = {"class", "action", "reason", "documents", "without_text"}
ALL_CLASSES = ["basic", "business", "communication", "contract", "credit", "project", "service"]
DENIED_HINT = "archive: hint: ask an admin for a grant if your work needs it"
HIT_LINE = re.compile(r"^(C\d{3}-[a-z2-7]{8})  (C\d{3})  (\S+)  (\d{4}-\d{2}-\d{2})  (.+)  \((\d+\.\d\d)\)$")


def file_one(cli, name, text, doc_type="contract", title=None, date="2026-01-10", user="alice") -> str:
    extra = ["--date", date] + (["--title", title] if title else [])
    (row,) = cli.file(cli.write(name, text), doc_type=doc_type, user=user, extra=extra)
    return row["doc_id"]


@pytest.fixture(scope="module")
def docs_home(template_home, tmp_path_factory):
    """The template archive plus a contract, traditional minutes and a credit
    report for C001 (filed once per module, copied per test)."""
    root = tmp_path_factory.mktemp("search-docs")
    home = root / "home"
    shutil.copytree(template_home, home)
    (root / "work").mkdir()
    cli = Cli(home, root / "work")
    ids = {
        "contract": file_one(cli, "合同.txt", "广告发布合同\n合同编号：HT-2026-001\n甲方：北京星辰传媒有限公司\n",
                             title="广告发布合同"),
        "minutes": file_one(cli, "紀要.txt", "會議紀要：討論廣告投放與應收賬款", doc_type="minutes",
                            title="會議紀要", date="2026-02-01"),
        "credit": file_one(cli, "credit.txt", "信用报告 应收账款 overdue", doc_type="credit-report",
                           title="信用报告", date="2025-12-01"),
    }
    return home, ids


@pytest.fixture
def docs(cli, docs_home):
    """``cli`` on a private copy of ``docs_home``; returns the document ids."""
    home, ids = docs_home
    shutil.rmtree(cli.home)
    shutil.copytree(home, cli.home)
    return ids


def search(cli, *args, user="alice"):
    return cli.run("search", *args, user=user)


def search_json(cli, *args, user="alice") -> dict:
    r = search(cli, *args, "--json", user=user)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def add_user(cli, name, dept):
    pw = cli.passfile(name, f"{name}-pw")
    r = cli.run("user", "add", name, "--dept", dept, "--new-passphrase-file", pw, user="alice")
    assert r.exit_code == 0, r.output


# --- output ----------------------------------------------------------------------------


def test_search_text_output(cli, docs):
    r = search(cli, "甲方")  # in the contract's text only (星辰, the client's name, finds all three)
    assert r.exit_code == 0, r.output
    assert r.stderr == ""
    lines = r.stdout.splitlines()
    assert len(lines) == 3, r.stdout
    m = HIT_LINE.match(lines[0])
    assert m, lines[0]
    assert m.groups()[:5] == (docs["contract"], "C001", "contract", "2026-01-10", "广告发布合同")
    assert lines[1].startswith("    ") and "**甲方**" in lines[1]
    assert lines[2] == "1 found"


def test_snippet_keeps_the_documents_script(cli, docs):
    out = search_json(cli, "应收账款")
    snippets = {h["doc_id"]: h["snippet"] for h in out["hits"]}
    assert set(snippets) == {docs["minutes"], docs["credit"]}
    assert "**應收賬款**" in snippets[docs["minutes"]]
    assert "**应收账款**" in snippets[docs["credit"]]


def test_search_json_shape(cli, docs):
    out = search_json(cli, "廣告")
    assert set(out) == {"total", "total_exact", "hits"}
    assert out["total"] == len(out["hits"]) == 2
    for h in out["hits"]:
        assert set(h) == HIT_KEYS
        assert isinstance(h["score"], float) and h["score"] > 0
    by_id = {h["doc_id"]: h for h in out["hits"]}
    assert by_id[docs["minutes"]] | {"score": 0, "snippet": ""} == {
        "doc_id": docs["minutes"], "client": "C001", "type": "minutes", "class": "communication",
        "title": "會議紀要", "date": "2026-02-01", "score": 0, "snippet": ""}


def test_limit_cuts_hits_not_total(cli):
    paths = [cli.write(f"d{i}.txt", f"排期 limitword {i}") for i in range(3)]
    ids = {row["doc_id"] for row in cli.file(*paths, user="alice")}
    out = search_json(cli, "limitword", "--limit", "1")
    assert out["total"] == 3 and len(out["hits"]) == 1
    assert out["hits"][0]["doc_id"] in ids
    r = search(cli, "limitword", "--limit", "1")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[-1] == "3 found; 2 more with --limit"
    r = search(cli, "limitword")
    assert r.stdout.splitlines()[-1] == "3 found"
    assert {HIT_LINE.match(line).group(1) for line in r.stdout.splitlines()[:-1:2]} == ids


def test_total_with_client_filter_and_small_limit(cli):
    """--client C002 where another client's matches outnumber --limit: total counts C002 only."""
    r = cli.run("client", "add", "C002", "--name", "上海明月广告有限公司", user="alice")
    assert r.exit_code == 0, r.output
    cli.file(*[cli.write(f"c1-{i}.txt", f"filterword c1 {i}") for i in range(3)], extra=["--date", "2026-01-01"])
    out = search_json(cli, "filterword", "--client", "C002", "--limit", "1")
    assert out == {"total": 0, "total_exact": True, "hits": []}
    out = search_json(cli, "filterword", "--since", "2030-01-01", "--limit", "2")
    assert out == {"total": 0, "total_exact": True, "hits": []}


def test_filters(cli, docs):
    assert {h["doc_id"] for h in search_json(cli, "廣告", "--type", "minutes")["hits"]} == {docs["minutes"]}
    assert {h["doc_id"] for h in search_json(cli, "应收账款", "--since", "2026-01-01")["hits"]} == {docs["minutes"]}
    assert search_json(cli, "廣告", "--client", "C001")["total"] == 2
    assert {h["doc_id"] for h in search_json(cli, "type:contract", "廣告")["hits"]} == {docs["contract"]}


def test_query_words_are_joined(cli, docs):
    assert search_json(cli, '"HT-2026-001"')["total"] == 1
    assert [h["doc_id"] for h in search_json(cli, "廣告 -合同")["hits"]] == [docs["minutes"]]
    assert search_json(cli, "甲方", "OR", "overdue")["total"] == 2
    assert search_json(cli, "(甲方", "OR", "overdue)", "AND", "NOT", "信用")["total"] == 1


def test_negated_word_as_its_own_argument(cli, docs):
    """``archive search 廣告 -合同``: the documented -word form, typed as shells split it."""
    r = search(cli, "廣告", "-合同", "--json")
    assert r.exit_code == 0, r.output
    assert [h["doc_id"] for h in json.loads(r.stdout)["hits"]] == [docs["minutes"]]


# --- bad input -------------------------------------------------------------------------


def test_bad_since(cli, docs):
    r = search(cli, "广告", "--since", "2026-13-01")
    assert r.exit_code == 2, r.output
    assert r.stdout == ""
    assert r.stderr.splitlines() == ["archive: error: invalid date '2026-13-01'",
                                     "archive: hint: use YYYY-MM-DD, e.g. 2026-03-01"]


@pytest.mark.parametrize("query,error", [
    ("", "archive: error: empty query"),
    ("   ", "archive: error: empty query"),
    ('"广告发布', "archive: error: unbalanced quote in query"),
])
def test_bad_query(cli, docs, query, error):
    r = search(cli, query)
    assert r.exit_code == 2, r.output
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert lines[0] == error
    assert len(lines) == 2 and lines[1].startswith("archive: hint: ")


def test_unknown_type(cli, docs):
    r = search(cli, "广告", "--type", "memo")
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines() == ["archive: error: unknown document type 'memo'",
                                     f"archive: hint: known types: {ALL_TYPES}"]


def test_unknown_client(cli, docs):
    r = search(cli, "广告", "--client", "C999")
    assert r.exit_code == 4, r.output
    assert r.stdout == ""
    assert r.stderr.splitlines()[0] == "archive: error: unknown client 'C999'"


# --- access and side channels --------------------------------------------------------------


def test_forbidden_match_is_indistinguishable_from_no_match(cli, docs):
    forbidden = search(cli, "HT-2026-001", user="carol")
    nowhere = search(cli, "HT-2099-999", user="carol")
    assert forbidden.exit_code == nowhere.exit_code == 0
    assert forbidden.stdout == nowhere.stdout == "no documents found\n"
    assert forbidden.stderr == nowhere.stderr == ""
    forbidden = search(cli, "HT-2026-001", "--json", user="carol")
    nowhere = search(cli, "HT-2099-999", "--json", user="carol")
    assert forbidden.stdout == nowhere.stdout
    assert json.loads(forbidden.stdout) == {"total": 0, "total_exact": True, "hits": []}
    # the filter syntax inside the query does not open other classes either
    assert search(cli, "type:contract", "星辰", user="carol").stdout == "no documents found\n"
    # what carol may see she finds
    assert {h["doc_id"] for h in search_json(cli, "应收账款", user="carol")["hits"]} == {docs["credit"]}


def test_type_of_a_forbidden_class_is_denied_the_same_either_way(cli, docs):
    a = search(cli, "星辰", "--type", "contract", user="carol")
    b = search(cli, "HT-2099-999", "--type", "contract", user="carol")
    assert a.exit_code == b.exit_code == 3
    assert a.stdout == b.stdout == ""
    assert a.stderr == b.stderr
    assert a.stderr.splitlines() == [
        "archive: error: user 'carol' (credit) may not search documents of class 'contract'", DENIED_HINT]


def test_user_without_search_is_told_plainly(cli, docs):
    add_user(cli, "dave", "audit")
    r = search(cli, "广告", user="dave")
    assert r.exit_code == 3, r.output
    assert r.stdout == ""
    assert r.stderr.splitlines() == ["archive: error: user 'dave' (audit) may not search", DENIED_HINT]


# --- documents without text ----------------------------------------------------------------


def test_file_without_text_prints_a_note(cli):
    empty = cli.write("empty.txt", b"")
    blob = cli.write("blob.bin", UNKNOWN_BINARY)
    r = cli.run("file", empty, blob, "--client", "C001", "--type", "minutes", user="alice")
    assert r.exit_code == 0, r.output
    assert r.stderr.splitlines() == [
        f"archive: note: {empty}: filed without searchable text: empty file",
        f"archive: note: {blob}: filed without searchable text: unknown file type",
    ]
    ls = cli.run("ls", user="alice")
    assert ls.exit_code == 0, ls.output
    rows = {line.split()[0]: line for line in ls.stdout.splitlines()[1:]}
    assert len(rows) == 2
    assert sum(line.rstrip().endswith("none: empty file") for line in rows.values()) == 1
    assert sum(line.rstrip().endswith("none: unknown file type") for line in rows.values()) == 1
    listed = json.loads(cli.run("ls", "--json", user="alice").stdout)
    assert sorted((r["text"], r["text_reason"]) for r in listed) == [
        ("empty", "empty file"), ("unsupported", "unknown file type")]
    by_name = {r["original_name"]: r["doc_id"] for r in listed} if "original_name" in listed[0] else None
    for word, name in (("empty", "empty.txt"), ("blob", "blob.bin")):  # found by title and file name alone
        out = search_json(cli, word)
        assert out["total"] == 1 and out["total_exact"], out
        assert out["hits"][0]["title"] == word
        if by_name:
            assert out["hits"][0]["doc_id"] == by_name[name]


def test_file_with_text_prints_no_note(cli):
    r = cli.run("file", cli.write("a.txt", "有文字"), "--client", "C001", "--type", "minutes", user="alice")
    assert r.exit_code == 0, r.output
    assert r.stderr == ""


def test_index_failure_warns_and_reindex_catches_up(cli, docs, monkeypatch):
    def broken(self, *args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(searching.ClassIndex, "index_versions", broken)
    src = cli.write("late.txt", "补充协议 lateword")
    r = cli.run("file", src, "--client", "C001", "--type", "contract-amendment", user="alice")
    monkeypatch.undo()
    assert r.exit_code == 0, r.output
    doc_id = r.stdout.split(": ")[1].split()[0]
    assert r.stderr.splitlines() == [
        f"archive: warning: {doc_id} is filed but not yet searchable (disk full); "
        "a reindex brings the index up to date"]
    assert search_json(cli, "lateword") == {"total": 0, "total_exact": True, "hits": []}
    r = cli.run("reindex", "--if-needed", user="alice")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert "contract: caught up (1 dossier(s) out of date; 2 documents)" in lines
    assert sorted(lines) == sorted(["contract: caught up (1 dossier(s) out of date; 2 documents)"]
                                   + [f"{c}: current" for c in ALL_CLASSES if c != "contract"])
    assert {h["doc_id"] for h in search_json(cli, "lateword")["hits"]} == {doc_id}
    r = cli.run("reindex", "--if-needed", user="alice")
    assert r.stdout.splitlines() == [f"{c}: current" for c in ALL_CLASSES]


# --- tampering and reindex ------------------------------------------------------------------


def test_tampered_index_then_reindex(cli, docs):
    damage_every_page(cli.home / "index" / "contract.db")
    r = search(cli, "星辰", user="bob")
    assert r.exit_code == 5, r.output
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert lines[0].startswith("archive: error: ") and "contract" in lines[0]
    assert lines[1] == "archive: hint: run 'archive reindex --if-needed' to rebuild it from the vault"
    assert len(lines) == 2
    r = cli.run("reindex", "--if-needed", user="bob")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0] == "basic: current" and lines[2] == "service: current"
    assert lines[1].startswith("contract: rebuilt (damaged") and lines[1].endswith("; 1 document)")
    assert {h["doc_id"] for h in search_json(cli, "星辰", user="bob")["hits"]} == {docs["contract"]}


def test_reindex_json_shape(cli, docs):
    file_one(cli, "empty.txt", b"", doc_type="minutes")
    r = cli.run("reindex", "--json", user="alice")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert isinstance(rows, list) and [row["class"] for row in rows] == ALL_CLASSES
    assert all(set(row) == REPORT_KEYS for row in rows)
    by = {row["class"]: row for row in rows}
    assert by["communication"] == {"class": "communication", "action": "rebuilt", "reason": "requested",
                                   "documents": 2, "without_text": 1}
    assert by["contract"] == {"class": "contract", "action": "rebuilt", "reason": "requested",
                              "documents": 1, "without_text": 0}
    r = cli.run("reindex", "--if-needed", "--json", user="carol")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == [
        {"class": c, "action": "current", "reason": None, "documents": 0, "without_text": 0}
        for c in ("basic", "credit")]


def test_reindex_text_output(cli, docs):
    file_one(cli, "empty.txt", b"", doc_type="minutes")
    r = cli.run("reindex", user="bob")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == ["basic: rebuilt (requested; 0 documents)",
                                     "contract: rebuilt (requested; 1 document)",
                                     "service: rebuilt (requested; 0 documents)"]
    r = cli.run("reindex", user="alice")
    assert "communication: rebuilt (requested; 2 documents, 1 without text)" in r.stdout.splitlines()


def test_audit_user_may_not_reindex(cli):
    add_user(cli, "dave", "audit")
    r = cli.run("reindex", user="dave")
    assert r.exit_code == 3, r.output
    assert r.stderr.splitlines() == ["archive: error: user 'dave' (audit) may not read", DENIED_HINT]


def test_a_grant_edited_in_the_files_takes_effect_only_when_signed(cli, docs):
    add_user(cli, "dave", "audit")
    grants = cli.home / "policies" / "grants.toml"
    text = grants.read_text(encoding="utf-8")
    old = '[audit]\nclasses = []\nactions = ["audit"]'
    assert old in text
    grants.write_text(text.replace(old, '[audit]\nclasses = ["basic"]\nactions = ["audit", "search", "read"]'),
                      encoding="utf-8")
    r = search(cli, "广告", user="dave")
    assert r.exit_code == 6, r.output
    assert r.stdout == ""
    assert r.stderr.splitlines()[0].startswith("archive: error: policies/grants.toml changed since an admin")
    assert "'archive policy sync'" in r.stderr.splitlines()[1]
    # signing the policy and sealing the granted key are one step: no "granted but no key" state between
    assert cli.run("policy", "sync", user="alice").exit_code == 0
    r = search(cli, "广告", user="dave")
    assert (r.exit_code, r.stdout) == (0, "no documents found\n")


def test_a_count_that_stopped_early_is_shown_as_at_least(cli, docs, monkeypatch):
    from archive_manager.index import search as search_module

    r = search(cli, "广告 OR 應收賬款 OR credit", user="alice")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[-1] == "3 found"
    monkeypatch.setattr(search_module, "COUNT_LIMIT", 0)  # every class stops at its first match
    r = search(cli, "广告 OR 應收賬款 OR credit", "--limit", "1", user="alice")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[-1] == "at least 1 found; more with --limit"
    out = search_json(cli, "广告 OR 應收賬款 OR credit")
    assert out["total_exact"] is False and len(out["hits"]) == 3


# --- queries over the limits (issue 13) -------------------------------------------------


@pytest.mark.parametrize("query, message", [
    ("(" * 10_000 + "合同" + ")" * 10_000, "the query nests parentheses and NOT more than 32 levels deep"),
    ("NOT " * 10_000 + "合同", "the query nests parentheses and NOT more than 32 levels deep"),
    (" ".join(f"w{i}" for i in range(20_000)), "the query has more than 256 terms"),
])
def test_search_refuses_huge_queries(cli, query, message):
    r = cli.run("search", query, user="alice")
    assert r.exit_code == 2, r.output[:500]
    assert r.stderr.splitlines()[0] == f"archive: error: {message}"
    assert r.stderr.splitlines()[1].startswith("archive: hint: ")


def test_search_nested_up_to_the_limit_still_searches(cli, docs):
    for query in ("(" * 32 + "合同" + ")" * 32, "NOT (" * 15 + "NOT NOT 合同" + ")" * 15):
        assert search_json(cli, query)["hits"], query


def test_filters_without_words_list_newest_first(cli, docs):
    out = search_json(cli, "--client", "C001")
    assert [h["doc_id"] for h in out["hits"]] == [docs["minutes"], docs["contract"], docs["credit"]]  # by date
    assert out["total"] == 3 and out["total_exact"]
    out = search_json(cli, "--type", "contract")
    assert [h["doc_id"] for h in out["hits"]] == [docs["contract"]]
    r = search(cli, "--since", "2026-01-01")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[-1] == "2 found"


def test_a_search_without_words_or_filters_is_refused(cli, docs):
    r = search(cli)
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines() == [
        "archive: error: give words to search for, or --client/--type/--since to list documents",
        "archive: hint: e.g. archive search 合同, or archive search --type contract"]


def test_reindex_rebuilds_a_missing_index_folder(cli, docs):
    """A vault restored without index/ (a new machine): reindex makes the folder again."""
    shutil.rmtree(cli.home / "index")
    r = cli.run("reindex", "--if-needed", user="alice")
    assert r.exit_code == 0, r.output
    assert "contract: rebuilt (missing; 1 document)" in r.stdout
    assert [h["doc_id"] for h in search_json(cli, "甲方")["hits"]] == [docs["contract"]]


def test_until_ends_the_date_range(cli, docs):
    out = search_json(cli, "--until", "2026-01-31", "--client", "C001")  # a listing without words
    assert docs["contract"] in {h["doc_id"] for h in out["hits"]}
    assert all(h["date"] <= "2026-01-31" for h in out["hits"]) and docs["minutes"] not in \
        {h["doc_id"] for h in out["hits"]}  # dated 2026-02-01
    r = search(cli, "广告", "--since", "2026-03-01", "--until", "2026-01-01")
    assert r.exit_code == 2 and "archive: error: the date range ends (2026-01-01) before it begins" in r.stderr
