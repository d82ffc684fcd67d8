"""PyInstaller hook for llama-cpp-python: collect its native libraries.

llama_cpp loads ``llama_cpp/lib/libllama.so`` (``.dylib``, ``llama.dll``) with ctypes at import
time, a path computed from its own ``__file__``. PyInstaller only follows libraries that Python
extension modules link against, so it never sees these: they are collected here, keeping the
``llama_cpp/lib`` folder, where the bindings look. The versioned names (``libggml.so.0``) are
what the libraries link each other by (RUNPATH ``$ORIGIN``), so they come along too. A GPU build
(CUDA, Vulkan, Metal) puts its backend library in the same folder, so it is covered as well.
"""

from __future__ import annotations

from PyInstaller.utils.hooks import collect_dynamic_libs

binaries = collect_dynamic_libs(
    "llama_cpp", search_patterns=["*.dll", "*.dylib", "lib*.so", "lib*.so.*"]
)
if not binaries:
    raise SystemExit(
        "hook-llama_cpp: llama_cpp/lib holds no shared library; is llama-cpp-python built and "
        "installed (packaging/build_llama_wheel.sh)?"
    )

# The OpenAI-compatible server needs FastAPI and friends, which Outthink does not use.
excludedimports = ["llama_cpp.server"]
