"""Multipart uploads parsed as they stream in: file parts go straight into
:class:`archive_manager.uploads.Upload` holds (memory, or a temporary file
encrypted with a throw-away key), never into a plaintext spool file as
Starlette's own form parser would do for anything over 1 MB."""

from __future__ import annotations

from dataclasses import dataclass, field

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from archive_manager.errors import UsageError
from archive_manager.uploads import Upload

MAX_FILES = 50
MAX_FIELDS = 20
MAX_FIELD_BYTES = 4096


@dataclass
class Form:
    fields: dict[str, str] = field(default_factory=dict)
    files: list[tuple[str, Upload]] = field(default_factory=list)  # (the name the browser gave, its hold)
    file_fields: list[str] = field(default_factory=list)  # the form field of each file, in the same order

    def close(self) -> None:
        for _, upload in self.files:
            upload.close()


async def read_form(request: Request, max_file_bytes: int, max_fields: int = MAX_FIELDS,
                    max_field_bytes: int = MAX_FIELD_BYTES) -> Form:
    """The request's multipart form; UsageError for anything malformed or
    over a limit (what was held is dropped)."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise UsageError("send the file as multipart/form-data")
    form = Form()
    part: dict = {}

    def on_part_begin() -> None:
        part.clear()
        part.update(headers={}, field=b"", value=b"", upload=None)

    def on_header_field(data: bytes, start: int, end: int) -> None:
        part["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        part["value"] += data[start:end]

    def on_header_end() -> None:
        part["headers"][part["field"].lower()] = part["value"]
        part["field"], part["value"] = b"", b""

    def on_headers_finished() -> None:
        _, disp = parse_options_header(part["headers"].get(b"content-disposition", b""))
        name = disp.get(b"name", b"").decode("utf-8", "replace")
        part["name"] = name
        if b"filename" in disp:
            if len(form.files) >= MAX_FILES:
                raise UsageError(f"at most {MAX_FILES} files at a time")
            upload = Upload(max_file_bytes)
            form.files.append((disp[b"filename"].decode("utf-8", "replace"), upload))
            form.file_fields.append(name)
            part["upload"] = upload
        else:
            if len(form.fields) >= max_fields:
                raise UsageError("too many form fields")
            part["data"] = bytearray()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if part["upload"] is not None:
            part["upload"].write(data[start:end])
        else:
            part["data"] += data[start:end]
            if len(part["data"]) > max_field_bytes:
                raise UsageError(f"the form field {part['name']!r} is too long")

    def on_part_end() -> None:
        if part["upload"] is not None:
            part["upload"].finish()
        else:
            try:
                form.fields[part["name"]] = bytes(part["data"]).decode("utf-8")
            except UnicodeDecodeError:
                raise UsageError(f"the form field {part['name']!r} is not UTF-8 text") from None

    parser = MultipartParser(boundary, {
        "on_part_begin": on_part_begin, "on_header_field": on_header_field, "on_header_value": on_header_value,
        "on_header_end": on_header_end, "on_headers_finished": on_headers_finished,
        "on_part_data": on_part_data, "on_part_end": on_part_end})
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except UsageError:
        form.close()
        raise
    except Exception as exc:  # the multipart parser's own errors: malformed input
        form.close()
        raise UsageError(f"the upload is malformed ({exc})") from None
    return form
