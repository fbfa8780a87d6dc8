"""The bundle's one program: ``ember`` (commands, or the window with none) and, when
started as ``ember-gui`` (the link the desktop entry runs), the window.

Before Ember is imported it picks the llama.cpp build this CPU runs (``llama_variant``) and
points llama-cpp-python at it. Two more forms serve the bundle itself:

* ``ember -c CODE [ARG...]`` runs Python code as ``python -c`` would: a frozen program has
  no other interpreter, and Ember starts children this way (``llama_build.probe_llama``
  generates one token in a child, so a build that faults kills the child, not Ember);
* ``ember --choose-cpu-build`` prints the build chosen and why (``install.sh`` runs it
  once, so the first start does not pay for the test).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from llama_variant import VARIANTS_DIR, Choice, NoUsableBuild, choose


def bundle_root() -> Path:
    """The folder holding the bundle's files (PyInstaller's ``_internal``)."""
    return Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parent))


def choose_build() -> Choice:
    """The llama.cpp build for this CPU (``EMBER_LLAMA_VARIANT`` forces one)."""
    root = bundle_root()
    models = sorted((root / "models").glob("*.gguf"))
    if not models:
        raise NoUsableBuild(f"The bundle holds no model in {root / 'models'}.")
    return choose(
        root / VARIANTS_DIR,
        models[0],
        [sys.executable],
        forced=os.environ.get("EMBER_LLAMA_VARIANT") or None,
    )


def run_code(code: str, args: list[str]) -> int:
    """``python -c CODE ARG...``: ``sys.argv`` is ``['-c', *args]``."""
    sys.argv = ["-c", *args]
    exec(compile(code, "<string>", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
    return 0


def main() -> int:
    args = sys.argv[1:]
    child = len(args) >= 2 and args[0] == "-c"
    if not (child and os.environ.get("LLAMA_CPP_LIB_PATH")):
        try:
            choice = choose_build()
        except NoUsableBuild as exc:
            print(f"ember: {exc}", file=sys.stderr)
            return 1
        os.environ["LLAMA_CPP_LIB_PATH"] = str(choice.folder)
        if args == ["--choose-cpu-build"]:
            print(f"{choice.level}: {choice.reason}")
            return 0
    if child:
        return run_code(args[1], args[2:])
    if Path(sys.argv[0]).name == "ember-gui":
        from ember.app.main import main as gui_main

        return gui_main()
    from ember.__main__ import main as ember_main

    return ember_main(args)


if __name__ == "__main__":
    sys.exit(main())
