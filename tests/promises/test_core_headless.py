"""core/ never imports Qt, and importing it does not pull in torch or the embedder."""

from __future__ import annotations

import subprocess
import sys


def test_core_imports_no_qt_and_no_torch() -> None:
    code = (
        "import sys\n"
        "import ember.cli, ember.core.service, ember.core.agent.engine, ember.core.storage.store\n"
        "import ember.core.memory.search, ember.core.diagnostics.doctor\n"
        "import ember.core.agent.tools, ember.core.agent.prompt, ember.core.agent.context\n"
        "import ember.core.memory.embedder\n"
        "import ember.core.llm.llama, ember.core.llm.scripted, ember.core.llm.gguf\n"
        "import ember.core.agent.heartbeats, ember.core.step.validate, ember.core.step.stream\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('PySide6', 'shiboken6', 'torch', 'sentence_transformers', 'llama_cpp')]\n"
        "print(','.join(sorted(bad)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
