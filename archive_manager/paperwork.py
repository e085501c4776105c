"""The paperwork desk over :mod:`archive_manager.generating`: the templates a
user may make and the values each takes from them (the catalog's ``given``
values), a preview rendered without filing, generation filed back into the
dossier with nothing left on disk, and a PDF of a filed document.

Every file this module writes goes into a temporary directory outside the
archive home, removed when the call returns, failed or not: a preview is
never filed, and a generated document is filed whole or not at all (what
``generate`` already holds to). A preview is a ``generate`` event that filed
nothing; a PDF of a filed document is an ``export`` of it.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

from archive_manager import generating, reading
from archive_manager.errors import AccessDenied, ArchiveError, UsageError
from archive_manager.generation import pdf as pdfs
from archive_manager.generation.catalog import TemplateSpec
from archive_manager.results import Result
from archive_manager.session import Session

PREVIEW_PAGES = 4  # pages of a preview drawn as images; the rest are counted
PAGE_DPI = 110
PAGE_SECONDS = 60.0


@dataclass(frozen=True)
class GivenValue(Result):
    """One value a template takes from the user: ``type`` text, date, money,
    integer or list (of records with ``fields``, each (name, type))."""
    name: str
    type: str
    required: bool
    fields: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class PaperworkTemplate(Result):
    """A template of the catalog as the desk offers it: its given values, whether
    it is made for a contract (``contract``) or from the ledger (``level``: a
    dunning level may be chosen), whether it is filed as a draft for approval
    (``draft``), and the rights the user lacks to make it (``lacking``, e.g.
    ``read contract``; empty: the user may)."""
    name: str
    title: str
    output_type: str
    output_class: str
    given: list[GivenValue]
    contract: bool
    level: bool
    draft: bool
    lacking: list[str]

    @property
    def allowed(self) -> bool:
        return not self.lacking


@dataclass(frozen=True)
class Preview(Result):
    """A rendered document not filed: its text (paragraphs, table rows with
    ``|`` between cells), its first pages as PNG images when LibreOffice made
    a PDF of it (``pages``, ``page_count`` in all), or why it made none
    (``pdf_error``)."""
    template: str
    client: str
    level: int | None
    text: str
    pages: list[bytes] = field(default_factory=list)
    page_count: int = 0
    pdf_error: str | None = None

    def to_dict(self) -> dict:
        out = super().to_dict()
        out["pages"] = [base64.b64encode(p).decode("ascii") for p in self.pages]
        return out


# --- which templates, taking what -------------------------------------------------


def _lacking(session: Session, spec: TemplateSpec) -> list[str]:
    needs = [("read", generating.SOURCE_CLASSES[s])
             for s in sorted({v.source for v in spec.variables} & set(generating.SOURCE_CLASSES))]
    needs.append(("file", session.policy.doc_type(spec.output_type).access_class))
    held = {action: set(session.classes_for(action)) for action in ("read", "file")}
    return [f"{action} {cls}" for action, cls in needs if cls not in held[action]]


def _describe(session: Session, spec: TemplateSpec) -> PaperworkTemplate:
    from archive_manager.amendments import is_amendment

    given = [GivenValue(v.name, v.type, v.required, list(v.fields)) for v in spec.variables if v.source == "given"]
    sources = {v.source for v in spec.variables}
    return PaperworkTemplate(spec.name, spec.title, spec.output_type,
                             session.policy.doc_type(spec.output_type).access_class, given,
                             "contract" in sources, "ledger" in sources and spec.output_type == generating.DUNNING,
                             is_amendment(session, spec), _lacking(session, spec))


def _refuse(session: Session, template: str | None, lacking: list[str] | None = None) -> None:
    """Record and raise the refusal of the paperwork desk (a denied ``generate``)."""
    with session.recorded("generate", template=template):
        session.require("generate")
        raise AccessDenied(f"user {session.user!r} may not make {template}: it needs the rights to "
                           + ", ".join(lacking or []), hint="ask an admin for a grant if your work needs it",
                           code="template-rights", lacking=list(lacking or []))


def templates(session: Session) -> list[PaperworkTemplate]:
    """The catalog's templates (the signed copy), each with what it takes and
    whether the user may make it. Needs ``generate`` (a refusal is recorded)."""
    if not session.policy.allows(session.departments, "generate"):
        _refuse(session, None)
    return [_describe(session, spec) for spec in session.catalog().values()]


def template(session: Session, name: str) -> PaperworkTemplate:
    """One template to fill in: refused (and recorded) unless the user may make it."""
    if not session.policy.allows(session.departments, "generate"):
        _refuse(session, name)
    spec, _ = generating._spec(session, name)
    found = _describe(session, spec)
    if found.lacking:
        _refuse(session, name, found.lacking)
    return found


def spec_of(session: Session, name: str) -> TemplateSpec:
    """The catalog's (signed) entry of ``name``."""
    return generating._spec(session, name)[0]


# --- preview, generation, PDF -----------------------------------------------------------


@contextmanager
def scratch(session: Session) -> Iterator[Path]:
    """A private temporary directory outside the archive's directories, removed after."""
    folder = Path(tempfile.mkdtemp(prefix="archive-paperwork-"))
    try:
        s = session.settings
        real = folder.resolve()
        for place in (s.home, s.vault_dir, s.index_dir, s.audit_dir):
            place = Path(os.path.abspath(place)).resolve()
            if real == place or place in real.parents:
                raise UsageError(f"the temporary directory {folder.parent} is inside the archive's {place}",
                                 hint="the server's temporary directory must be outside the archive home",
                                 code="temp-in-archive")
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def preview(session: Session, name: str, client: str, given: dict | None = None, contract: str | None = None,
            level: int | None = None, pages: int = PREVIEW_PAGES) -> Preview:
    """Render ``name`` for ``client`` as :func:`generating.generate` would,
    without filing it: its text, and its first ``pages`` pages as images when
    LibreOffice is installed. Nothing is kept."""
    with scratch(session) as folder:
        out = folder / f"{name}-{client}.docx"
        made = generating.generate(session, name, client, given, out, file_back=False, contract=contract,
                                   level=level)
        text = docx_text(out)
        if pdfs.soffice() is None:
            return Preview(name, client, made.level, text)
        try:
            [pdf] = pdfs.convert([out])
            images, count = pdf_pages(pdf, pages, folder)
        except ArchiveError as exc:
            return Preview(name, client, made.level, text, pdf_error=exc.message)
        return Preview(name, client, made.level, text, images, count)


def generate_filed(session: Session, name: str, client: str, given: dict | None = None,
                   contract: str | None = None, level: int | None = None) -> generating.GeneratedDocument:
    """Generate ``name`` for ``client`` and file it back into the dossier
    (a contract amendment as a draft); the written file is removed after,
    so ``path`` is its name only (the filed document's file name)."""
    with scratch(session) as folder:
        today = session.runtime.now().date()
        made = generating.generate(session, name, client, given, folder / f"{name}-{client}-{today}.docx",
                                   True, contract, level)
    return replace(made, path=Path(made.path).name)


def pdf_copy(session: Session, doc_id: str, version: int | None = None) -> tuple[bytes, str]:
    """A PDF of the filed Word document ``doc_id`` (an ``export`` of it: needs
    ``export`` on its class), made by LibreOffice: (bytes, file name). The
    right is checked (and a refusal recorded) before whether LibreOffice is
    here: a refused user learns nothing of the server's set-up."""
    content = reading.open_content(session, doc_id, version, export=True)
    pdfs.require_soffice()
    name = str(content.info.original_name or doc_id)
    if not name.lower().endswith(".docx"):
        raise UsageError(f"{doc_id} is not a Word (.docx) document", code="not-docx")
    with scratch(session) as folder:
        src = folder / "document.docx"
        with open(src, "wb") as fh:
            if content.data is not None:
                fh.write(content.data)
            else:
                content.write(fh)
        [made] = pdfs.convert([src])
        return made.read_bytes(), Path(name).with_suffix(".pdf").name


# --- reading what was rendered ------------------------------------------------------------


def docx_text(path: Path) -> str:
    """The text of a .docx: paragraphs, and table rows with `` | `` between cells."""
    import docx
    from docx.table import Table

    document = docx.Document(str(path))
    lines: list[str] = []
    body = document.element.body
    for child in body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            lines.append("".join(t.text or "" for t in child.iter() if t.tag.endswith("}t")))
        elif tag == "tbl":
            table = Table(child, document)
            for row in table.rows:
                lines.append(" | ".join(cell.text for cell in row.cells))
    return "\n".join(lines).strip("\n")


def pdf_pages(pdf: Path, limit: int, folder: Path) -> tuple[list[bytes], int]:
    """The first ``limit`` pages of ``pdf`` as PNG images (pypdfium2, else
    poppler's pdftoppm; neither: none) and how many pages it has."""
    from pypdf import PdfReader

    count = len(PdfReader(str(pdf)).pages)
    try:
        import pypdfium2 as pdfium
        from PIL import Image  # noqa: F401 - pypdfium2 hands pages over as Pillow images
    except ImportError:
        return _pdftoppm(pdf, limit, folder), count
    document = pdfium.PdfDocument(str(pdf))
    try:
        images = []
        for i in range(min(limit, len(document))):
            buf = io.BytesIO()
            document[i].render(scale=PAGE_DPI / 72).to_pil().save(buf, "PNG")
            images.append(buf.getvalue())
        return images, count
    finally:
        document.close()


def _pdftoppm(pdf: Path, limit: int, folder: Path) -> list[bytes]:
    program = shutil.which("pdftoppm")
    if program is None:
        return []
    prefix = folder / "page"
    try:
        subprocess.run([program, "-png", "-r", str(PAGE_DPI), "-f", "1", "-l", str(limit), str(pdf), str(prefix)],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=PAGE_SECONDS, check=True)
    except (subprocess.SubprocessError, OSError):
        return []
    return [p.read_bytes() for p in sorted(folder.glob("page-*.png"))]


# --- a filed document of the desk --------------------------------------------------------------


@dataclass(frozen=True)
class FiledPaperwork(Result):
    """A generated document as filed: its newest version, what it was made
    from (``derived_from``: documents, ``invoice:<number>``), and for a
    contract amendment its state (draft, approved, rejected), its drafter and
    whether this user may decide it (another member of the approving department)."""
    doc_id: str
    client: str
    title: str
    type: str
    access_class: str
    version: int
    date: str
    file_name: str
    derived_from: list[str]
    may_export: bool
    amendment_state: str | None = None
    drafted_by: str | None = None
    draft_version: int | None = None
    final_version: int | None = None
    may_decide: bool = False


def filed(session: Session, doc_id: str) -> FiledPaperwork:
    """``doc_id`` as the desk shows it after generating (a ``doc-show``)."""
    from archive_manager.amendments import list_amendments
    from archive_manager.identifiers import parse_doc_id

    with session.recorded("doc-show", doc_id=doc_id) as rec:
        rec.objects["client"] = parse_doc_id(doc_id)
        found = reading.locate(session, doc_id)
        rec["title"] = found.doc["title"]
    latest = found.doc["versions"][-1]
    cls = found.slot.access_class
    out = FiledPaperwork(doc_id, found.client, found.doc["title"], found.doc["type"], cls, latest["version"],
                         latest["date"], latest["original_name"], list(latest.get("derived_from", [])),
                         session.policy.allows(session.departments, "export", cls))
    chain = session.policy.admission
    if chain is None or found.doc["type"] != chain.amendment_type:
        return out
    row = next((r for r in list_amendments(session, found.client) if r.doc_id == doc_id), None)
    if row is None:
        return out
    return replace(out, amendment_state=row.state, drafted_by=row.drafted_by, draft_version=row.draft_version,
                   final_version=row.final_version,
                   may_decide=row.state == "draft" and chain.amendment_approver in session.departments
                   and row.drafted_by != session.user)
