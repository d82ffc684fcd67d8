"""Fetch one file of a Hub *dataset* repository, cached for offline use.

:func:`outthink.hub.download` is built for model files: it writes into the models folder,
insists on a SHA-256 (LFS) hash and resumes multi-gigabyte transfers across restarts. Dataset
files are small (MATH-500 is about 400 KB) and live under ``/datasets/{repo}/resolve/...``,
which that function does not address. So this module uses huggingface-hub's own
``hf_hub_download`` with ``repo_type="dataset"`` into ``<cache>/datasets``, in the same way
hub.py uses the library (endpoint and token from the settings, telemetry off, the library's
offline flag set from the settings per call).

After the first download the cached copy is used without any request, so a benchmark runs
offline (and on a plane without setting offline mode); ``refresh=True`` checks the Hub again.
In offline mode (``Settings.offline`` or ``HF_HUB_OFFLINE``) a missing file is a clear error
and no request is made.

This module imports ``huggingface_hub`` (lazily), next to hub.py: keep the two in step.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from outthink import __version__
from outthink.bench.problems import DatasetSpec
from outthink.config import Settings, cache_dir, load_settings
from outthink.errors import DownloadError
from outthink.hub import endpoint

log = logging.getLogger(__name__)

__all__ = ["cached_dataset_file", "dataset_cache_dir", "fetch_dataset_file"]


def dataset_cache_dir() -> Path:
    return cache_dir() / "datasets"


def _hf(settings: Settings) -> Any:
    """huggingface_hub with its flags matched to our settings (as hub.py does)."""
    import huggingface_hub
    from huggingface_hub import constants

    constants.HF_HUB_DISABLE_TELEMETRY = True
    constants.HF_HUB_OFFLINE = settings.is_offline()
    # A progress bar per 400 KB file only clutters the benchmark's own progress line.
    constants.HF_HUB_DISABLE_PROGRESS_BARS = True
    return huggingface_hub


def cached_dataset_file(spec: DatasetSpec, settings: Settings | None = None) -> Path | None:
    """The cached copy of a dataset file, or None; never makes a request."""
    settings = settings or load_settings()
    hf = _hf(settings)
    found = hf.try_to_load_from_cache(
        spec.repo,
        spec.filename,
        cache_dir=dataset_cache_dir(),
        revision=spec.revision,
        repo_type="dataset",
    )
    return Path(found) if isinstance(found, str) and os.path.isfile(found) else None


def fetch_dataset_file(
    spec: DatasetSpec, *, settings: Settings | None = None, refresh: bool = False
) -> Path:
    """The local path of a dataset file, downloading it the first time."""
    settings = settings or load_settings()
    if not refresh:
        cached = cached_dataset_file(spec, settings)
        if cached is not None:
            log.debug("Using the cached %s at %s", spec.display, cached)
            return cached
    if settings.is_offline():
        raise DownloadError(
            f"Offline mode is on and {spec.display} has not been downloaded yet.",
            hint="Turn offline mode off once (`offline = false` in settings.toml and unset "
            "HF_HUB_OFFLINE) to fetch it, or give a local JSON-lines file with --problems.",
        )
    hf = _hf(settings)
    base = endpoint(settings)
    token = settings.hf_token or os.environ.get("HF_TOKEN") or hf.get_token() or None
    log.info("Downloading the dataset file %s from %s", spec.display, base)
    try:
        path = hf.hf_hub_download(
            spec.repo,
            spec.filename,
            repo_type="dataset",
            revision=spec.revision,
            cache_dir=dataset_cache_dir(),
            endpoint=base,
            token=token or False,
            library_name="outthink",
            library_version=__version__,
        )
    except Exception as exc:
        raise _map_error(exc, spec, base, token) from None
    return Path(path)


def _map_error(exc: Exception, spec: DatasetSpec, base: str, token: str | None) -> DownloadError:
    from huggingface_hub import errors as hf_errors

    page = f"{base}/datasets/{spec.repo}"
    detail = f"{type(exc).__name__}: {exc}"
    if token:
        detail = detail.replace(token, "***")
    if isinstance(exc, hf_errors.RevisionNotFoundError):
        return DownloadError(
            f"Revision {spec.revision!r} does not exist in the dataset {spec.repo}.",
            hint="Give a branch, tag or commit of that repo after @, or leave it out for main.",
        )
    if isinstance(exc, hf_errors.RemoteEntryNotFoundError):
        return DownloadError(
            f"{spec.filename} is not in the dataset {spec.repo} (HTTP 404).",
            hint=f"See the repo's files at {page}/tree/{spec.revision} and pass the right one "
            "as --problems ORG/NAME:FILE.",
        )
    if isinstance(exc, hf_errors.GatedRepoError):
        return DownloadError(
            f"The dataset {spec.repo} is gated: it needs a Hugging Face token and its accepted "
            "terms.",
            hint=f"Accept the terms at {page}, then set HF_TOKEN or `hf_token` in settings.toml.",
        )
    if isinstance(exc, hf_errors.RepositoryNotFoundError):
        return DownloadError(
            f"The dataset {spec.repo} was not found on {base}.",
            hint="Check the name (ORG/NAME); private datasets also need a token (HF_TOKEN).",
        )
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status is not None:
        return DownloadError(
            f"The Hub refused the download of {spec.display} (HTTP {status}).",
            hint="Wait a few minutes and run it again, or use a mirror (`hf_endpoint` in "
            "settings.toml or HF_ENDPOINT).",
        )
    return DownloadError(
        f"Could not download {spec.display} from {base} ({detail}).",
        hint="Check the internet connection and run it again, or give a local JSON-lines file "
        "with --problems.",
    )
