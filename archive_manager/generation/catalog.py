"""``templates/catalog.toml``: each template's file, title, output document
type and variables (type, required or optional, where the value comes from),
and the checks ``archive templates check`` runs against the .docx files.

    [dunning-letter]
    title = "催款函"
    file = "dunning-letter.docx"
    output_type = "dunning-letter"

    [dunning-letter.variables]
    "client.name" = { type = "text", source = "profile" }
    "total" = { type = "money", source = "ledger" }
    "note" = { type = "text", source = "given", required = false }
    "invoices" = { type = "list", source = "ledger", fields = { number = "text", amount = "money" } }

Names are dotted paths (``client.name``); a list's records are read in the
template as ``invoices[].number``.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from archive_manager.errors import UsageError
from archive_manager.generation.render import render, variable_paths

CATALOG = "catalog.toml"
TYPES = ("text", "date", "money", "integer", "list")
FIELD_TYPES = ("text", "date", "money", "integer")
SOURCES = ("profile", "ledger", "contract", "given", "system")
SAMPLES = {"text": "示例文字 Sample & <text>", "date": date(2026, 11, 26), "money": Decimal("16409.02"),
           "integer": 3}


@dataclass(frozen=True)
class Variable:
    name: str
    type: str
    source: str
    required: bool = True
    fields: tuple[tuple[str, str], ...] = ()  # for lists: (field, type)

    def paths(self) -> set[str]:
        if self.type != "list":
            return {self.name}
        return {self.name, *(f"{self.name}[].{f}" for f, _ in self.fields)}


@dataclass(frozen=True)
class TemplateSpec:
    name: str
    title: str
    file: str
    output_type: str
    variables: tuple[Variable, ...]

    def declared(self) -> set[str]:
        return set().union(*(v.paths() for v in self.variables)) if self.variables else set()

    def variable(self, name: str) -> Variable | None:
        return next((v for v in self.variables if v.name == name), None)

    def inside(self, group: str) -> list[Variable]:
        """The variables in the group ``group`` (``client`` holds ``client.name``)."""
        return [v for v in self.variables if v.name.startswith(group + ".")]

    def missing(self, context: dict) -> list[str]:
        """Required variables without a value in ``context`` (None and "" count as missing)."""
        return [v.name for v in self.variables if v.required and lookup(context, v.name) in (None, "", [])]

    def fill_optional(self, context: dict) -> dict:
        """Give every optional variable without a value None (an empty list for
        a list), so that the template prints nothing there."""
        for v in self.variables:
            if not v.required and lookup(context, v.name) is None:
                _assign(context, v.name, [] if v.type == "list" else None)
        return context

    def sample(self) -> dict:
        """A context with a sample value for every variable (for the check render)."""
        context: dict = {}
        for v in self.variables:
            value = [{f: SAMPLES[t] for f, t in v.fields}] * 2 if v.type == "list" else SAMPLES[v.type]
            _assign(context, v.name, value)
        return context


def lookup(context: dict, path: str):
    """The value at the dotted ``path`` in ``context``, or None."""
    value = context
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _assign(context: dict, path: str, value) -> None:
    *parents, last = path.split(".")
    for part in parents:
        context = context.setdefault(part, {})
    context[last] = value


def read_catalog(folder: Path) -> str:
    """The text of ``folder``/catalog.toml."""
    path = Path(folder) / CATALOG
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"no template catalog at {path}", hint="templates/catalog.toml lists the templates") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{CATALOG}: invalid TOML: {exc}") from None


def load_catalog(folder: Path) -> dict[str, TemplateSpec]:
    return parse_catalog(read_catalog(folder))


def template_hashes(folder: Path, catalog_text: str) -> dict[str, str]:
    """The SHA-256 of each template file the catalog names that is present
    in ``folder`` (what ``policy sync`` signs with the catalog)."""
    out = {}
    try:
        specs = parse_catalog(catalog_text).values()
    except UsageError:
        return out  # the catalog's own check says what is wrong with it
    for spec in specs:
        path = Path(folder) / spec.file
        if path.is_file():
            out[spec.file] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def parse_catalog(text: str) -> dict[str, TemplateSpec]:
    """The templates a catalog's text declares (the one in force is the copy
    an admin signed: ``Session.catalog``)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{CATALOG}: invalid TOML: {exc}") from None
    return {name: _spec(name, entry) for name, entry in sorted(data.items())}


def _spec(name: str, entry: object) -> TemplateSpec:
    where = f"{CATALOG}: [{name}]"
    if not isinstance(entry, dict):
        raise UsageError(f"{where} must be a table")
    for key in ("title", "file", "output_type"):
        if not isinstance(entry.get(key), str) or not entry[key]:
            raise UsageError(f"{where}: {key} must be a non-empty string")
    unknown = sorted(set(entry) - {"title", "file", "output_type", "variables"})
    if unknown:
        raise UsageError(f"{where}: unknown keys: {', '.join(unknown)}")
    variables = entry.get("variables", {})
    if not isinstance(variables, dict):
        raise UsageError(f"{where}.variables must be a table")
    return TemplateSpec(name, entry["title"], entry["file"], entry["output_type"],
                        tuple(_variable(where, vname, v) for vname, v in sorted(variables.items())))


def _variable(where: str, name: str, v: object) -> Variable:
    where = f"{where}.variables.{name!r}"
    if not isinstance(v, dict):
        raise UsageError(f"{where} must be an inline table like {{ type = \"text\", source = \"given\" }}")
    kind, source, required = v.get("type"), v.get("source"), v.get("required", True)
    if kind not in TYPES:
        raise UsageError(f"{where}: type must be one of {', '.join(TYPES)}")
    if source not in SOURCES:
        raise UsageError(f"{where}: source must be one of {', '.join(SOURCES)}")
    if not isinstance(required, bool):
        raise UsageError(f"{where}: required must be true or false")
    fields = v.get("fields", {})
    if kind == "list":
        if not isinstance(fields, dict) or not fields or any(t not in FIELD_TYPES for t in fields.values()):
            raise UsageError(f"{where}: a list needs fields = {{ name = \"text\", ... }} "
                             f"with types {', '.join(FIELD_TYPES)}")
    elif fields:
        raise UsageError(f"{where}: only a list has fields")
    unknown = sorted(set(v) - {"type", "source", "required", "fields"})
    if unknown:
        raise UsageError(f"{where}: unknown keys: {', '.join(unknown)}")
    return Variable(name, kind, source, required, tuple(sorted(fields.items())))


def check(spec: TemplateSpec, folder: Path, scratch: Path) -> list[str]:
    """What is wrong with one template: names used but not declared, declared
    but not used, and whether it renders with sample values."""
    file = Path(folder) / spec.file
    if not file.is_file():
        return [f"{spec.name}: file {spec.file} is missing"]
    try:
        used = variable_paths(file)
    except UsageError as exc:
        return [f"{spec.name}: {exc.message}" + (f" ({exc.hint})" if exc.hint else "")]
    declared = spec.declared()
    problems = [f"{spec.name}: uses {p!r}, which the catalog does not declare" for p in sorted(used - declared)
                if not any(d.startswith(p + ".") or d.startswith(p + "[]") for d in declared)]
    problems += [f"{spec.name}: declares {p!r}, which the template does not use"
                 for v in spec.variables for p in sorted(v.paths()) if p not in used
                 and not (v.type == "list" and p == v.name and any(u.startswith(p + "[]") for u in used))]
    if not problems:
        try:
            render(file, spec.sample(), Path(scratch) / f"{spec.name}.check.docx")
        except UsageError as exc:
            problems.append(f"{spec.name}: does not render with sample values: {exc.message}")
    return problems


def check_types(spec: TemplateSpec, given: dict, prefix: str = "") -> None:
    """Refuse a given value that is not of its declared type (an amount, a
    date, a whole number, a list of records), before anything is rendered:
    a :class:`UsageError` with code ``bad-value`` naming the value (``value``)
    and, in a list, the row (``row``, from 1) and its field (``field``)."""
    for key, value in given.items():
        path = prefix + key
        var = spec.variable(path)
        if var is None:
            if isinstance(value, dict):
                check_types(spec, value, path + ".")
            continue
        if var.type != "list":
            _check_type(var.type, value, path)
            continue
        if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
            raise UsageError(f"{path}: a list of records is expected", code="bad-value", value=path)
        kinds = dict(var.fields)
        for n, row in enumerate(value, 1):
            for name, item in row.items():
                if name not in kinds:
                    raise UsageError(f"{path} row {n}: no field {name!r}", hint=f"fields: {', '.join(kinds)}",
                                     code="bad-value", value=path, row=n, field=name)
                _check_type(kinds[name], item, f"{path} row {n} {name}", path, row=n, field=name)


def _check_type(kind: str, value: object, where: str, path: str | None = None, **row) -> None:
    from archive_manager.generation.values import chinese_date, money

    if value is None or value == "":
        return  # missing: the catalog's required values are checked apart
    try:
        if kind == "money":
            money(value)
        elif kind == "date":
            if not isinstance(value, date):
                chinese_date(str(value))
        elif kind == "integer":
            if isinstance(value, bool) or not (isinstance(value, int) or str(value).strip().isdigit()):
                raise UsageError(f"invalid whole number {value!r}", hint="write it with digits, like 3")
        elif kind == "text" and isinstance(value, (dict, list)):
            raise UsageError(f"invalid text {value!r}")
    except UsageError as exc:
        raise UsageError(f"{where}: {exc.message}", hint=exc.hint, code="bad-value", value=path or where,
                         type=kind, **row) from None
