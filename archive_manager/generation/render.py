"""Rendering Word templates safely: docxtpl over a sandboxed Jinja
environment with autoescape, strict about undefined names, None printed as
nothing, money and dates through filters, and a time limit. Also reads which
variables a template uses, nested names included (``client.name``,
``invoices[].amount``), for ``templates check``.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, UndefinedError, nodes
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from archive_manager.errors import UsageError
from archive_manager.generation.values import chinese_date, money_figures, money_upper

RENDER_SECONDS = 30.0
TAG_HINT = "open the template in Word or WPS and check that every {{ }} and {% %} tag is complete"


def _finalize(value: object) -> object:
    return "" if value is None else value


def template_env() -> SandboxedEnvironment:
    env = SandboxedEnvironment(autoescape=True, undefined=StrictUndefined, finalize=_finalize)
    env.filters.update(money=_blank_if_none(money_figures), upper=_blank_if_none(money_upper),
                       cndate=_blank_if_none(chinese_date))
    return env


def _blank_if_none(f):
    """A filter that prints nothing for a missing optional value."""
    return lambda value: "" if value is None else f(value)


def _load(path: Path):
    from docxtpl import DocxTemplate

    try:
        tpl = DocxTemplate(str(path))
        tpl.init_docx()
        return tpl
    except Exception as exc:  # not a zip, not a Word document
        raise UsageError(f"template {Path(path).name} is not a Word (.docx) file: {exc}") from None


def template_source(path: Path) -> str:
    """The Jinja source docxtpl renders: body, headers and footers, tags patched."""
    from docx.oxml import parse_xml

    tpl = _load(path)
    doc = tpl.docx
    xml = tpl.patch_xml(tpl.xml_to_string(doc._element.body))
    for rel in doc.part.rels.values():
        if rel.reltype in (tpl.HEADER_URI, tpl.FOOTER_URI) and rel.target_part.blob:
            xml += tpl.patch_xml(tpl.xml_to_string(parse_xml(rel.target_part.blob)))
    return xml


def _paragraph_texts(path: Path) -> Iterator[str]:
    """The text of every paragraph a user edits: body, table cells, headers, footers."""
    import docx

    doc = docx.Document(str(path))

    def walk(container) -> Iterator[str]:
        for p in container.paragraphs:
            yield p.text
        for table in getattr(container, "tables", []):
            for row in table.rows:
                for cell in row.cells:
                    yield from walk(cell)

    yield from walk(doc)
    for section in doc.sections:
        for part in (section.header, section.footer):
            yield from walk(part)


def _broken(name: str, path: Path, exc: TemplateSyntaxError) -> UsageError:
    """A syntax error as a user sees it: the template, the paragraph with the
    broken tag (the first whose braces do not balance), and a hint."""
    bad = next((t for t in _paragraph_texts(path)
                if t.count("{{") != t.count("}}") or t.count("{%") != t.count("%}")), None)
    near = f" in “{bad.strip()[:80]}”" if bad else ""
    return UsageError(f"template {name}: broken tag{near}: {exc.message}", hint=TAG_HINT)


def variable_paths(path: Path) -> set[str]:
    """Every variable path the template reads: ``client.name``, ``invoices[].amount``."""
    name = Path(path).name
    source = template_source(path)
    try:
        tree = template_env().parse(source)
    except TemplateSyntaxError as exc:
        raise _broken(name, path, exc) from None
    found: set[str] = set()
    _walk(tree, {}, found)
    return found


def _chain(node: nodes.Node, scope: dict[str, str]) -> str | None:
    """The dotted path of a Name/Getattr/Getitem(constant) chain, or None."""
    if isinstance(node, nodes.Name):
        return scope.get(node.name, node.name)
    if isinstance(node, nodes.Getattr):
        base = _chain(node.node, scope)
        return None if base is None else f"{base}.{node.attr}"
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
        base = _chain(node.node, scope)
        return None if base is None else f"{base}.{node.arg.value}"
    return None


def _names(target: nodes.Node) -> list[nodes.Name]:
    return [target] if isinstance(target, nodes.Name) else list(target.find_all(nodes.Name))


def _walk(node: nodes.Node, scope: dict[str, str], found: set[str]) -> None:
    if isinstance(node, nodes.For):
        _walk(node.iter, scope, found)
        inner = dict(scope)
        source = _chain(node.iter, scope)
        for target in _names(node.target):
            inner[target.name] = f"{source}[]" if source else ""
        inner["loop"] = ""
        for child in [*node.body, *node.else_]:
            _walk(child, inner, found)
        if node.test is not None:
            _walk(node.test, inner, found)
        return
    if isinstance(node, nodes.Assign):
        _walk(node.node, scope, found)
        for target in _names(node.target):
            scope[target.name] = ""  # a local set in the template
        return
    path = _chain(node, scope)
    if path is not None:
        if path and not path.startswith("."):
            found.add(path)
        if isinstance(node, nodes.Getitem):
            _walk(node.arg, scope, found)
        return
    for child in node.iter_child_nodes():
        _walk(child, scope, found)


@contextmanager
def _time_limit(seconds: float, what: str) -> Iterator[None]:
    """SIGALRM-based limit (the CLI renders on the main thread); elsewhere none."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(*_):
        raise UsageError(f"{what} took longer than {seconds:g} s to render",
                         hint="a loop in the template may be endless")

    old = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def render(template: Path, context: dict, out: Path | BinaryIO, seconds: float = RENDER_SECONDS) -> None:
    """Render ``template`` with ``context`` into ``out`` (.docx: a path, or a
    stream, so nothing reaches the disk in plaintext). Every
    template problem is a UsageError naming the template (and the tag)."""
    name = Path(template).name
    tpl = _load(template)
    try:
        with _time_limit(seconds, f"template {name}"):
            tpl.render(context, jinja_env=template_env(), autoescape=True)
    except SecurityError as exc:
        raise UsageError(f"template {name} uses something templates may not: {exc}",
                         hint="templates may only read the values they are given") from None
    except UndefinedError as exc:
        raise UsageError(f"template {name}: {exc.message}",
                         hint="declare the value in templates/catalog.toml or fix the tag's name") from None
    except TemplateSyntaxError as exc:
        raise _broken(name, template, exc) from None
    except TemplateError as exc:
        raise UsageError(f"template {name}: {exc}", hint=TAG_HINT) from None
    except OverflowError as exc:  # the sandbox's cap on range()
        raise UsageError(f"template {name}: {exc}", hint="a loop in the template is too long") from None
    tpl.save(out if hasattr(out, "write") else str(out))
