"""core/ never imports Qt, and importing it does not pull in torch or the embedder."""

from __future__ import annotations

import subprocess
import sys


def test_core_imports_no_qt_and_no_torch() -> None:
    code = (
        "import sys\n"
        "import ember.cli, ember.core.service, ember.core.engine, ember.core.store\n"
        "import ember.core.search, ember.core.doctor\n"
        "import ember.core.tools, ember.core.prompt, ember.core.context, ember.core.embedder\n"
        "import ember.core.llama_backend, ember.core.scripted_backend, ember.core.models\n"
        "import ember.core.scheduler, ember.core.step.validate, ember.core.step.stream\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('PySide6', 'shiboken6', 'torch', 'sentence_transformers', 'llama_cpp')]\n"
        "print(','.join(sorted(bad)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
