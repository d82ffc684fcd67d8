"""Fetch one file of a Hub *dataset* repository, cached for offline use.

:func:`outthink.hub.download` is built for model files: it writes into the models folder,
insists on a SHA-256 (LFS) hash and resumes multi-gigabyte transfers across restarts. Dataset
files are small (MATH-500 is about 400 KB) and live under ``/datasets/{repo}/resolve/...``,
which that function does not address. So this module uses huggingface-hub's own
``hf_hub_download`` with ``repo_type="dataset"`` into ``<cache>/datasets``, reaching the
library through :mod:`outthink.hub`: the same endpoint (or mirror), token, offline flag and
telemetry setting as model downloads (:func:`~outthink.hub.hf_library`,
:func:`~outthink.hub.endpoint`, :func:`~outthink.hub.hub_auth`), and the same errors
(:func:`~outthink.hub.map_error`).

After the first download the cached copy is used without any request, so a benchmark runs
offline (and on a plane without setting offline mode); ``refresh=True`` checks the Hub again.
In offline mode (``Settings.offline`` or ``HF_HUB_OFFLINE``) a missing file is a clear error
and no request is made.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from outthink import __version__, hub
from outthink.config import Settings, cache_dir, load_settings
from outthink.errors import DownloadError

log = logging.getLogger(__name__)

__all__ = ["DatasetSpec", "cached_dataset_file", "dataset_cache_dir", "fetch_dataset_file"]

#: Where the user names a dataset file, for the hints of :func:`outthink.hub.map_error`.
_NAMED_IN = "--problems ORG/NAME:FILE@REVISION"


@dataclass(frozen=True, slots=True)
class DatasetSpec:
    """One file of a Hub dataset repository: problem sets name it, this module fetches it."""

    repo: str
    filename: str
    revision: str = "main"

    @property
    def display(self) -> str:
        rev = "" if self.revision == "main" else f"@{self.revision}"
        return f"{self.repo}:{self.filename}{rev}"


def dataset_cache_dir() -> Path:
    return cache_dir() / "datasets"


def cached_dataset_file(spec: DatasetSpec, settings: Settings | None = None) -> Path | None:
    """The cached copy of a dataset file, or None; never makes a request."""
    settings = settings or load_settings()
    found = hub.hf_library(settings).try_to_load_from_cache(
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
    hf = hub.hf_library(settings)
    base = hub.endpoint(settings)
    auth = hub.hub_auth(settings)
    log.info("Downloading the dataset file %s from %s", spec.display, base)
    try:
        path = hf.hf_hub_download(
            spec.repo,
            spec.filename,
            repo_type="dataset",
            revision=spec.revision,
            cache_dir=dataset_cache_dir(),
            endpoint=base,
            token=auth.token or False,
            library_name="outthink",
            library_version=__version__,
        )
    except Exception as exc:
        item = hub.HubFile(spec.repo, spec.filename, spec.revision, label=spec.display,
                           repo_type="dataset")
        raise hub.map_error(exc, item, settings, auth, base, named_in=_NAMED_IN) from None
    return Path(path)
