"""The bundled model catalogue: well-formed, laptop-sized, consent-friendly entries."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ember.core.kernel.errors import NotFound
from ember.core.models import catalogue


def test_every_entry_is_a_laptop_sized_instruct_gguf_from_a_resolve_url() -> None:
    entries = catalogue.entries()
    assert 5 <= len(entries) <= 12
    assert len({e.id for e in entries}) == len(entries)
    for e in entries:
        assert e.quant == "Q4_K_M"
        assert 0.5e9 <= e.size_bytes <= 3e9, e.id  # 1-4B at Q4_K_M
        assert e.size_bytes / 1e9 < e.ram_gb < 6, e.id
        assert e.url.startswith("https://huggingface.co/") and "/resolve/" in e.url, e.id
        assert e.url.endswith("/" + e.filename) and e.filename.endswith(".gguf")
        assert e.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", e.sha256)
        assert e.licence and e.licence_url.startswith("https://") and e.good_at


def test_find_and_download_location(ember_home: Path) -> None:
    entry = catalogue.entries()[0]
    assert catalogue.find(entry.id) == entry
    assert entry.path == ember_home / "models" / entry.filename
    assert not entry.downloaded
    assert catalogue.entry_for_path(entry.path) == entry
    assert catalogue.entry_for_path(ember_home / "other.gguf") is None
    with pytest.raises(NotFound, match="choose one of"):
        catalogue.find("gpt-5")
