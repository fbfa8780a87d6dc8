"""The model catalogue: a curated list of laptop-sized instruct GGUFs (resources/).

Reading it opens no socket; downloading (:func:`download_entry`, through download.py)
happens only when the user asks, after being shown the URL and size. A downloaded model
lives in :func:`models_dir` under its catalogue file name, so "is it downloaded?" is a
file check and the settings simply point ``model_path`` at it.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ember import resources
from ember.core.kernel import paths
from ember.core.kernel.errors import NotFound

if TYPE_CHECKING:
    from ember.core.models.download import Progress

CATALOGUE_FILE = "catalogue.json"
SIZE_TOLERANCE = 0.20  # a real size this far from the listed one is refused


@dataclass(frozen=True)
class CatalogueEntry:
    """One downloadable model."""

    id: str
    name: str
    params: str
    quant: str
    size_bytes: int
    ram_gb: float
    context_length: int
    licence: str
    licence_url: str
    good_at: str
    url: str
    filename: str
    sha256: str | None

    @property
    def path(self) -> Path:
        """Where the model is (or will be) once downloaded."""
        return models_dir_path() / self.filename

    @property
    def downloaded(self) -> bool:
        """Whether the verified file is in place (partial downloads have another name)."""
        return self.path.is_file()


def _entry(raw: dict[str, Any]) -> CatalogueEntry:
    sha = raw.get("sha256")
    return CatalogueEntry(
        id=str(raw["id"]),
        name=str(raw["name"]),
        params=str(raw["params"]),
        quant=str(raw["quant"]),
        size_bytes=int(raw["size_bytes"]),
        ram_gb=float(raw["ram_gb"]),
        context_length=int(raw["context_length"]),
        licence=str(raw["licence"]),
        licence_url=str(raw["licence_url"]),
        good_at=str(raw["good_at"]),
        url=str(raw["url"]),
        filename=str(raw["filename"]),
        sha256=str(sha).lower() if sha else None,
    )


def parse_catalogue(text: str) -> list[CatalogueEntry]:
    """Entries of a catalogue document (raises ValueError/KeyError on a malformed one)."""
    data = json.loads(text)
    return [_entry(raw) for raw in data["models"]]


@cache
def entries() -> tuple[CatalogueEntry, ...]:
    """The bundled catalogue."""
    return tuple(parse_catalogue(resources.read_text(CATALOGUE_FILE)))


def find(model_id: str) -> CatalogueEntry:
    """A catalogue entry by id. Raises NotFound naming the ids there are."""
    for entry in entries():
        if entry.id == model_id:
            return entry
    raise NotFound(
        f'No catalogue model "{model_id}"; choose one of: ' + ", ".join(e.id for e in entries())
    )


def entry_for_path(path: Path | str | None) -> CatalogueEntry | None:
    """The catalogue entry whose downloaded file ``path`` is, if any."""
    if not path:
        return None
    target = Path(path).expanduser().resolve()
    for entry in entries():
        if entry.path.resolve() == target:
            return entry
    return None


def models_dir_path() -> Path:
    """Where downloaded models go (not created)."""
    return paths.data_dir_path() / "models"


def models_dir() -> Path:
    """Where downloaded models go (created)."""
    return paths.private_dir(models_dir_path())


def download_entry(
    entry: CatalogueEntry,
    on_progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """Download ``entry`` into :func:`models_dir`, verified against its pinned sha256 (else
    the hub's published one) and the size the user was shown; resumes a paused download.
    Raises ``Cancelled`` (the part is kept for resuming) or ``DownloadError``."""
    from ember.core.models.download import download

    return download(
        entry.url,
        models_dir() / entry.filename,
        sha256=entry.sha256,
        expected_size=entry.size_bytes,
        size_tolerance=0.0 if entry.sha256 else SIZE_TOLERANCE,
        on_progress=on_progress,
        cancel=cancel,
    )
