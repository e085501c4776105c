"""archive-manager as a package: the shipped policies and templates travel in
the wheel, and an installed wheel works on its own.

The top-level ``policies/`` and ``templates/`` are the only copy in the
repository; building a wheel puts them into the package as
``archive_manager/shipped/`` (setup.py), and
:func:`archive_manager.settings.find_shipped_dir` finds them there, or at the
top of a source checkout (and of an editable install of one).

The slow tests build the wheel from a copy of the sources (the checkout gets
no ``build/``), install it into a new virtual environment (its dependencies
from the package index pip is configured with; pip's cache makes that a few
seconds), and run ``archive`` from there, in a directory outside the sources.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import archive_manager
from archive_manager.settings import SHIPPED_DIR, find_shipped_dir

REPO = Path(__file__).resolve().parent.parent
SHIPPED = ("policies", "templates")
# what a build reads (what an sdist holds, MANIFEST.in)
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "archive_manager", *SHIPPED)


def shipped_files(root: Path) -> dict[str, bytes]:
    """Every shipped default file, by its path under ``root``."""
    return {str(p.relative_to(root)): p.read_bytes()
            for name in SHIPPED for p in sorted((root / name).rglob("*")) if p.is_file()}


# --- finding the shipped defaults ---------------------------------------------------


def fake_tree(root: Path, *dirs: str) -> None:
    for d in dirs:
        (root / d).mkdir(parents=True)


def test_the_source_tree_has_them_at_its_top():
    assert find_shipped_dir() == SHIPPED_DIR == REPO
    assert Path(archive_manager.__file__).resolve().parent == REPO / "archive_manager"  # not an installed copy
    assert set(shipped_files(REPO)) >= {"policies/grants.toml", "templates/catalog.toml"}


def test_an_installed_package_has_them_inside(tmp_path):
    site = tmp_path / "site-packages"
    fake_tree(site, "archive_manager/shipped/policies", "archive_manager/shipped/templates")
    assert find_shipped_dir(site / "archive_manager") == site / "archive_manager" / "shipped"


def test_inside_the_package_comes_first(tmp_path):
    """A policies/ that happens to lie beside the installed package is not it."""
    site = tmp_path / "site-packages"
    fake_tree(site, "archive_manager/shipped/policies", "archive_manager/shipped/templates",
              "policies", "templates")
    assert find_shipped_dir(site / "archive_manager") == site / "archive_manager" / "shipped"


def test_a_checkout_has_them_beside_the_package(tmp_path):
    fake_tree(tmp_path, "archive_manager", "policies", "templates")
    assert find_shipped_dir(tmp_path / "archive_manager") == tmp_path


def test_nowhere_names_the_place_inside_the_package(tmp_path):
    """An install without them (a wheel built without setup.py's step): init
    says 'shipped defaults not found at .../archive_manager/shipped/policies'."""
    fake_tree(tmp_path, "archive_manager", "templates")
    assert find_shipped_dir(tmp_path / "archive_manager") == tmp_path / "archive_manager" / "shipped"


# --- the wheel ----------------------------------------------------------------------


def run(args, cwd: Path, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if check:
        assert r.returncode == 0, f"{args}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Path:
    """A copy of what a build reads (others may change the checkout meanwhile)."""
    src = tmp_path_factory.mktemp("sources") / "src"
    src.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(REPO / name, src / name)
    return src


@pytest.fixture(scope="module")
def wheel(sources, tmp_path_factory) -> Path:
    """The wheel, built by pip (in its isolated build environment, setuptools
    from the index) from a copy of the sources."""
    tmp = tmp_path_factory.mktemp("wheel")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-w", tmp / "dist",
         sources], cwd=tmp)
    (built,) = (tmp / "dist").glob("archive_manager-*.whl")
    return built


@pytest.mark.slow
def test_the_wheel_carries_the_shipped_defaults(wheel, sources):
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        inside = {name: z.read(f"archive_manager/shipped/{name}")
                  for name in shipped_files(sources) if f"archive_manager/shipped/{name}" in names}
    assert inside == shipped_files(sources)  # every file, byte for byte
    assert {"policies/grants.toml", "templates/catalog.toml", "templates/dunning-letter.docx"} <= set(inside)
    assert not any(n.startswith(("policies/", "templates/")) for n in names)  # nothing at the top of site-packages
    assert not any("__pycache__" in n for n in names)


def test_the_wheel_carries_the_servers_pages_and_static_files(wheel, sources):
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    server = sources / "archive_manager" / "server"
    wanted = {f"archive_manager/server/{p.relative_to(server).as_posix()}"
              for d in ("templates", "static") for p in (server / d).iterdir() if p.is_file()}
    assert wanted and wanted <= names, sorted(wanted - names)


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A new virtual environment with the wheel installed; its bin/. Made
    without pip of its own (ensurepip takes longer than the install) and filled
    by this interpreter's pip (``--python``), dependencies from the index."""
    venv = tmp_path_factory.mktemp("venv") / "env"
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=venv.parent)
    run([sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install",
         "--disable-pip-version-check", "--quiet", wheel], cwd=venv.parent)
    return venv / "bin"


def clean_env(bin_dir: Path, **extra: str) -> dict:
    """The environment of someone who installed the package: nothing of the
    test process's archive, interpreter or source tree leaks in."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ARCHIVE_", "PYTHON", "VIRTUAL_ENV", "PYTEST"))}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


@pytest.mark.slow
def test_an_installed_wheel_inits_files_searches_and_generates(installed, sources, tmp_path):
    work = tmp_path / "elsewhere"  # outside the source tree: nothing found by accident in the cwd
    work.mkdir()
    home = tmp_path / "archive"
    pw = work / "alice.pass"
    pw.write_text("alice-pw\n", encoding="utf-8")
    pw.chmod(0o600)
    archive = installed / "archive"
    env = clean_env(installed, ARCHIVE_KDF_PROFILE="test")

    # the package imported is the installed one, and its defaults are inside it
    r = run([installed / "python", "-c", "import archive_manager, archive_manager.settings as s; "
             "print(archive_manager.__file__); print(s.find_shipped_dir())"], cwd=work, env=env)
    module, shipped = map(Path, r.stdout.splitlines())
    site = installed.parent / "lib"
    assert site in module.parents and site in shipped.parents, r.stdout
    assert shipped.name == "shipped"

    # a failed init leaves nothing, here too
    r = run([archive, "--home", tmp_path / "failed", "init", "--admin", "alice", "--passphrase-file", pw],
            cwd=work, env={**env, "ARCHIVE_SHIPPED_DIR": str(tmp_path / "nowhere")}, check=False)
    assert r.returncode == 2, r.stderr
    assert "archive: error: shipped defaults not found at " in r.stderr
    assert not (tmp_path / "failed").exists()

    r = run([archive, "--home", home, "init", "--admin", "alice", "--passphrase-file", pw], cwd=work, env=env)
    assert r.stdout.startswith("created archive "), r.stdout
    assert shipped_files(home) == shipped_files(sources)
    assert sorted(os.listdir(work)) == ["alice.pass"]  # nothing written where it ran

    env.update(ARCHIVE_HOME=str(home), ARCHIVE_USER="alice", ARCHIVE_PASSPHRASE="alice-pw")
    run([archive, "client", "add", "C001", "--name", "北京星辰传媒有限公司", "--set", "legal_rep=张伟",
         "--set", "address=北京市朝阳区建国路88号"], cwd=work, env=env)

    contract = work / "合同.txt"
    contract.write_text("星辰广告发布合同\n甲方委托乙方在地铁灯箱投放品牌广告，投放期三个月。\n", encoding="utf-8")
    r = run([archive, "file", contract, "--client", "C001", "--type", "contract", "--json"], cwd=work, env=env)
    (filed,) = json.loads(r.stdout)

    r = run([archive, "search", "灯箱", "--json"], cwd=work, env=env)
    hits = json.loads(r.stdout)["hits"]
    assert [h["doc_id"] for h in hits] == [filed["doc_id"]], r.stdout

    # a dunning letter, by the credit department, on the company's letterhead
    (home / "policies" / "company.toml").write_text(  # signed with the policy by an admin
        'name = "北京示例广告有限公司"\naddress = "北京市朝阳区"\nphone = "010-1234"\n'
        'bank = "中国工商银行"\naccount = "0200"\n', encoding="utf-8")
    run([archive, "policy", "sync"], cwd=work, env=env)
    carol = work / "carol.pass"
    carol.write_text("carol-pw\n", encoding="utf-8")
    carol.chmod(0o600)
    run([archive, "user", "add", "carol", "--dept", "credit", "--new-passphrase-file", carol], cwd=work, env=env)
    env.update(ARCHIVE_USER="carol", ARCHIVE_PASSPHRASE="carol-pw")
    run([archive, "ledger", "add", "C001", "--invoice", "INV-0042", "--amount", "128000", "--due", "2020-09-30"],
        cwd=work, env=env)
    letter = tmp_path / "out" / "letter.docx"
    letter.parent.mkdir()
    r = run([archive, "generate", "dunning-letter", "--client", "C001", "-o", letter], cwd=work, env=env)
    with zipfile.ZipFile(letter) as z:
        body = z.read("word/document.xml").decode("utf-8")
    assert "北京星辰传媒有限公司" in body and "INV-0042" in body and "北京示例广告有限公司" in body

    r = run([archive, "ls", "--json"], cwd=work, env=env)
    assert "dunning-letter" in {d["type"] for d in json.loads(r.stdout)}, r.stdout  # filed into the dossier

    env.update(ARCHIVE_USER="alice", ARCHIVE_PASSPHRASE="alice-pw")
    run([archive, "verify"], cwd=work, env=env)
