"""The one build step pyproject.toml cannot state: the shipped defaults travel
inside the package.

The repository's top-level ``policies/`` and ``templates/`` are the only copy
of the shipped policies and Word templates. Building the package (a wheel, or
``pip install`` from the sources) copies them into it as
``archive_manager/shipped/policies`` and ``archive_manager/shipped/templates``,
where ``archive_manager.settings.find_shipped_dir`` looks first. An editable
install (``pip install -e .``) copies nothing: it reads them where they are.
Everything else about the package is in pyproject.toml; MANIFEST.in puts the
two directories into the sdist, so a wheel built from it has them too.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SHIPPED = ("policies", "templates")
PACKAGE_DIR = Path("archive_manager", "shipped")


def shipped_files(root: Path) -> list[Path]:
    """The files of the shipped directories under ``root``, relative to it:
    no hidden files, no editor or Office lock files, no caches."""
    files = []
    for name in SHIPPED:
        for path in sorted((root / name).rglob("*")):
            rel = path.relative_to(root)
            if path.is_file() and not any(p.startswith((".", "~$")) or p == "__pycache__" for p in rel.parts):
                files.append(rel)
    return files


class BuildWithShippedDefaults(build_py):
    """``build_py`` that also copies the shipped defaults into the package."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        root = Path(__file__).resolve().parent
        missing = [name for name in SHIPPED if not (root / name).is_dir()]
        if missing:
            raise FileNotFoundError(f"the shipped defaults are missing from the sources: {', '.join(missing)}/")
        for rel in shipped_files(root):
            target = Path(self.build_lib, PACKAGE_DIR, rel)
            self.mkpath(str(target.parent))
            self.copy_file(str(root / rel), str(target), preserve_mode=False)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        if getattr(self, "editable_mode", False):
            return outputs
        root = Path(__file__).resolve().parent
        return [*outputs, *(str(Path(self.build_lib, PACKAGE_DIR, rel)) for rel in shipped_files(root))]


setup(cmdclass={"build_py": BuildWithShippedDefaults})
