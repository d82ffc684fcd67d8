"""Setuptools hook: ship models.toml, assets/ and the self-check model as ``outthink/_data``.

Everything else about the build is in pyproject.toml. The staging code is shared with the
PyInstaller spec (packaging/package_data.py), so a wheel and the frozen app carry the same files
and ``outthink.resources`` finds them the same way.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildPyWithData(build_py):
    def run(self) -> None:
        super().run()
        # An editable install reads the files from the checkout (resources.py falls back to
        # the repository root), so there is nothing to copy for it.
        if self.editable_mode:
            return
        # Loaded by path: `packaging` as a package name would shadow the PyPI module.
        spec = importlib.util.spec_from_file_location(
            "outthink_package_data", ROOT / "packaging" / "package_data.py"
        )
        assert spec is not None and spec.loader is not None
        package_data = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(package_data)
        package_data.stage(ROOT, Path(self.build_lib) / "outthink" / "_data")


setup(cmdclass={"build_py": BuildPyWithData})
