"""PDF through LibreOffice: a generated letter converts and keeps its Chinese
text; without LibreOffice, a clear error. CI installs LibreOffice (.ci/run)."""

from __future__ import annotations

import pypdf
import pytest

from archive_manager.errors import UsageError
from archive_manager.generation import pdf
from archive_manager.generation.catalog import load_catalog
from archive_manager.generation.render import render
from archive_manager.settings import SHIPPED_DIR

needs_soffice = pytest.mark.skipif(pdf.soffice() is None, reason="LibreOffice (soffice) is not installed; "
                                   ".ci/run installs libreoffice-writer-nogui and fonts-noto-cjk")


def letters(tmp_path, n: int):
    spec = load_catalog(SHIPPED_DIR / "templates")["dunning-letter"]
    out = []
    for i in range(n):
        ctx = spec.sample()
        ctx["client"]["name"] = f"北京星辰传媒有限公司{i}"
        ctx.update(level=2, total="144409.02")
        path = tmp_path / f"letter{i}.docx"
        render(SHIPPED_DIR / "templates" / "dunning-letter.docx", ctx, path)
        out.append(path)
    return out


@needs_soffice
def test_generated_letters_convert_with_their_chinese_text(tmp_path):
    docs = letters(tmp_path, 2)
    made = pdf.convert(docs)
    assert made == [d.with_suffix(".pdf") for d in docs]
    for i, p in enumerate(made):
        text = "".join(page.extract_text() for page in pypdf.PdfReader(str(p)).pages)
        assert f"北京星辰传媒有限公司{i}" in text
        assert "壹拾肆万肆仟肆佰零玖元零贰分" in text


def test_without_libreoffice_the_error_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(pdf, "soffice", lambda: None)
    with pytest.raises(UsageError) as exc:
        pdf.convert(letters(tmp_path, 1))
    assert "LibreOffice" in exc.value.message and "fonts-noto-cjk" in exc.value.hint
