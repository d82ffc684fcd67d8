"""``outthink doctor``: the llama.cpp build, GPU support, folders and models found here."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from outthink import __version__
from outthink.config import Settings, cache_dir, config_dir, data_dir, load_settings, log_dir
from outthink.errors import OutthinkError, describe


def add_doctor_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the ``doctor`` sub-command to ``outthink``'s sub-parsers."""
    d = sub.add_parser("doctor", help="llama.cpp build, GPU support, folders, models found")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_doctor)
    return d


def cmd_doctor(args: argparse.Namespace) -> int:
    from outthink import engine
    from outthink.starter import starter_installed

    settings = load_settings()
    info: dict[str, Any] = {"outthink": __version__, "python": sys.version.split()[0]}
    try:
        info.update(engine.system_info())
    except Exception as exc:  # broken native library: say so, keep going
        info["llama_cpp_error"] = describe(exc)
    info["threads_default"] = settings.threads or engine.physical_cores()
    info["folders"] = {
        "data": str(data_dir()),
        "models": str(settings.models_path()),
        "config": str(config_dir()),
        "cache": str(cache_dir()),
        "logs": str(log_dir()),
    }
    info["starter_model_installed"] = starter_installed()
    info.update(_models_on_disk(settings))
    info["offline"] = settings.is_offline()
    from outthink.qtdeps import check_display

    display = check_display()
    info["qt_display"] = display.to_dict()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"Outthink {info['outthink']} (Python {info['python']})")
    if "llama_cpp_error" in info:
        print(f"llama.cpp:       NOT WORKING - {info['llama_cpp_error']}")
    else:
        print(f"llama.cpp:       llama-cpp-python {info['llama_cpp_python']}")
        offload = "yes" if info["gpu_offload"] else "no (CPU build; see README for GPU builds)"
        print(f"GPU offload:     {offload}")
        print(f"CPU features:    {info['system_info']}")
    print(f"Threads:         {info['threads_default']} (physical cores: {engine.physical_cores()})")
    for k, v in info["folders"].items():
        print(f"{k.capitalize() + ' folder:':<17}{v}")
    print(f"Starter model:   {'installed' if info['starter_model_installed'] else 'not installed'}")
    if "models_error" in info:
        print(f"Models on disk:  unknown - {info['models_error']}")
    else:
        found = [m if state == "present" else f"{m} ({state})"
                 for m, state in info["models_found"].items()]
        print(f"Models on disk:  {', '.join(found) if found else 'none'}")
    if info.get("untracked_files"):
        print(f"Other .gguf:     {', '.join(info['untracked_files'])} "
              "(not in the catalog; `outthink models import PATH` adds one)")
    print(f"Offline mode:    {'on' if info['offline'] else 'off'}")
    print(f"Qt display:      {display.summary()}")
    if display.missing:
        print(f"                 (Fedora: sudo dnf install {' '.join(display.fedora_packages)})")
    return 0


def _models_on_disk(settings: Settings) -> dict[str, Any]:
    """The catalog's models that have a file here (Hub downloads sit in sub-folders of the
    models folder, imports anywhere), with their state, and .gguf files no entry knows."""
    from outthink.catalog import list_models, load_catalog, untracked_files

    try:
        catalog = load_catalog(settings)
        found = {
            s.entry.id: s.state
            for s in list_models(settings, catalog)
            if s.state in ("present", "unverified", "changed")
        }
        stray = [str(p) for p in untracked_files(settings, catalog)]
    except OutthinkError as exc:  # a broken catalog must not stop the doctor
        return {"models_found": {}, "untracked_files": [], "models_error": describe(exc)}
    return {"models_found": found, "untracked_files": stray}
