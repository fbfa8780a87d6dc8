"""Find GGUF model files that other local-LLM apps already downloaded.

Headless and read-only: it walks the usual model folders of LM Studio, Ollama, GPT4All,
Jan, llama.cpp and the Hugging Face cache, and keeps files that start with the GGUF magic
(Ollama stores its models as extension-less blobs, named through its manifests). It never
loads a model and never follows the network. The GUI runs it off the GUI thread.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ember.core.llm.gguf import GGUF_MAGIC

# Smaller files cannot be a usable model (and skipping them keeps the scan fast).
MIN_MODEL_BYTES = 16 * 1024 * 1024
# Folders deeper than this below a root are not searched.
MAX_DEPTH = 7


@dataclass(frozen=True)
class ModelCandidate:
    """A GGUF file found on disk."""

    path: str
    name: str
    size: int
    origin: str  # which app's folder it was found in


def candidate_roots(home: Path | None = None) -> list[tuple[str, Path]]:
    """(origin, folder) pairs where local-LLM apps keep models, for this platform."""
    home = home or Path.home()
    roots: list[tuple[str, Path]] = [
        ("LM Studio", home / ".cache" / "lm-studio" / "models"),
        ("LM Studio", home / ".lmstudio" / "models"),
        ("Ollama", home / ".ollama" / "models"),
        ("llama.cpp", home / ".cache" / "llama.cpp"),
        ("Hugging Face", home / ".cache" / "huggingface" / "hub"),
        ("GPT4All", home / ".local" / "share" / "nomic.ai" / "GPT4All"),
        ("Jan", home / "jan" / "models"),
        ("Jan", home / ".local" / "share" / "Jan" / "data" / "models"),
    ]
    hf_home = os.environ.get("HF_HOME")
    if hf_home:
        roots.append(("Hugging Face", Path(hf_home) / "hub"))
    ollama = os.environ.get("OLLAMA_MODELS")
    if ollama:
        roots.append(("Ollama", Path(ollama)))
    if sys.platform == "darwin":
        support = home / "Library" / "Application Support"
        roots += [
            ("GPT4All", support / "nomic.ai" / "GPT4All"),
            ("Jan", support / "Jan" / "data" / "models"),
            ("llama.cpp", home / "Library" / "Caches" / "llama.cpp"),
        ]
    if sys.platform == "win32":
        local = Path(os.environ.get("LOCALAPPDATA", home / "AppData" / "Local"))
        roots += [
            ("GPT4All", local / "nomic.ai" / "GPT4All"),
            ("llama.cpp", local / "llama.cpp"),
        ]
    return roots


def is_gguf(path: Path) -> bool:
    """Whether ``path`` is a file that starts with the GGUF magic."""
    try:
        with path.open("rb") as fh:
            return fh.read(4) == GGUF_MAGIC
    except OSError:
        return False


def _walk(root: Path) -> Iterator[Path]:
    base_depth = len(root.parts)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        if len(Path(dirpath).parts) - base_depth >= MAX_DEPTH:
            dirnames[:] = []
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            yield Path(dirpath) / name


def _ollama_names(root: Path) -> dict[str, str]:
    """Blob file name → ``model:tag`` from Ollama's manifests."""
    names: dict[str, str] = {}
    manifests = root / "manifests"
    if not manifests.is_dir():
        return names
    for manifest in _walk(manifests):
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for layer in data.get("layers", []) if isinstance(data, dict) else []:
            if layer.get("mediaType") == "application/vnd.ollama.image.model":
                digest = str(layer.get("digest", "")).replace(":", "-")
                names[digest] = f"{manifest.parent.name}:{manifest.name}"
    return names


def _display_name(path: Path, origin: str, ollama: dict[str, str]) -> str:
    if origin == "Ollama" and path.name in ollama:
        return ollama[path.name]
    if origin == "Hugging Face" and "snapshots" in path.parts:
        # hub/models--org--repo/snapshots/<rev>/file.gguf
        repo = next((p for p in path.parts if p.startswith("models--")), "")
        repo = repo.removeprefix("models--").replace("--", "/")
        return f"{repo}: {path.name}" if repo else path.name
    return path.name


def scan_models(roots: Iterable[tuple[str, Path]] | None = None) -> list[ModelCandidate]:
    """GGUF files in the usual folders, de-duplicated by real path, largest names sorted."""
    found: dict[str, ModelCandidate] = {}
    for origin, root in roots if roots is not None else candidate_roots():
        if not root.is_dir():
            continue
        ollama = _ollama_names(root) if origin == "Ollama" else {}
        for path in _walk(root):
            ollama_blob = origin == "Ollama" and path.name.startswith("sha256-")
            if path.suffix.lower() != ".gguf" and not ollama_blob:
                continue
            try:
                real = path.resolve()
                size = real.stat().st_size
            except OSError:
                continue
            if size < MIN_MODEL_BYTES or str(real) in found or not is_gguf(real):
                continue
            found[str(real)] = ModelCandidate(
                path=str(path), name=_display_name(path, origin, ollama), size=size, origin=origin
            )
    return sorted(found.values(), key=lambda c: (c.origin, c.name.lower()))
