"""llama.cpp build levels side by side: prompt processing and generation tokens/s.

    .venv/bin/python benchmarks/cpu_build.py [--levels x86-64-v3 native-noamx x86-64-v2]
                                             [--rounds 3] [--prompt-tokens 1024] [--gen 64]

Each level's wheel comes from the wheelhouse (``packaging/llama_wheel.py wheel --level L``,
compiled on first use), is unpacked into a temporary folder, and measured in a child
process with the bundled model, so the builds never meet in one interpreter. Rounds are
interleaved (A, B, C, A, B, C, ...) so that load on the machine touches every level alike;
the table shows medians and each level's ratio to the first one.

``native-noamx`` is everything this CPU offers except AMX (which faults here): the best a
native build could do on this machine. A runtime-dispatch build (GGML_CPU_ALL_VARIANTS)
would pick the same AVX-512 code at best, and the AMX variant at worst.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_CHILD = r"""
import json, sys, time
import llama_cpp
model, n_prompt, n_gen, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
llm = llama_cpp.Llama(model_path=model, n_ctx=n_prompt + n_gen + 16, n_batch=512,
                      n_threads=threads, n_threads_batch=threads, verbose=False)
line = "Sentence {} says that the river bends north past the old mill."
text = " ".join(line.format(i) for i in range(400))
tokens = llm.tokenize(text.encode(), add_bos=True)[:n_prompt]
llm.eval(tokens[:8])  # warm up (allocations, first kernels)
llm.reset()
start = time.perf_counter()
llm.eval(tokens)
pp = len(tokens) / (time.perf_counter() - start)
# Generation = one-token decode steps; feed known tokens so that no sampler (Python-side,
# over Gemma's 262k vocabulary) is timed, only llama.cpp's kernels.
start = time.perf_counter()
for i in range(n_gen):
    llm.eval([tokens[i % len(tokens)]])
tg = n_gen / (time.perf_counter() - start)
print(json.dumps({"pp": pp, "tg": tg, "info": llama_cpp.llama_print_system_info().decode()}))
"""


def unpack(level: str) -> Path:
    """The level's wheel installed into a temporary folder (its own llama_cpp)."""
    wheel = subprocess.run(
        [sys.executable, str(ROOT / "packaging" / "llama_wheel.py"), "wheel", "--level", level],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    target = Path(tempfile.mkdtemp(prefix=f"ember-llama-{level}-"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            wheel,
        ],
        check=True,
    )
    return target


def measure(target: Path, model: Path, n_prompt: int, n_gen: int, threads: int) -> dict[str, float]:
    """One child-process measurement with the build in ``target``."""
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(model), str(n_prompt), str(n_gen), str(threads)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"{target.name} failed (exit {out.returncode}): {out.stderr[-400:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--levels", nargs="+", default=["x86-64-v3", "native-noamx", "x86-64-v2"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--prompt-tokens", type=int, default=1024)
    parser.add_argument("--gen", type=int, default=64)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()

    os.environ.setdefault("EMBER_HOME", tempfile.mkdtemp(prefix="ember-bench-"))
    from ember.core.llm.gguf import bundled_model_path

    model = bundled_model_path()
    targets = {level: unpack(level) for level in args.levels}
    results: dict[str, list[dict[str, float]]] = {level: [] for level in args.levels}
    for r in range(args.rounds):
        for level in args.levels:
            m = measure(targets[level], model, args.prompt_tokens, args.gen, args.threads)
            results[level].append(m)
            print(
                f"round {r + 1} {level}: pp {m['pp']:.0f} tok/s, tg {m['tg']:.1f} tok/s",
                file=sys.stderr,
            )
    base = args.levels[0]
    base_pp = statistics.median(m["pp"] for m in results[base])
    base_tg = statistics.median(m["tg"] for m in results[base])
    print(
        f"bundled model, {args.prompt_tokens}-token prompt, {args.gen} generated tokens, "
        f"{args.threads} threads, median of {args.rounds} interleaved rounds"
    )
    print(f"| build | prompt tok/s | vs {base} | generation tok/s | vs {base} | features |")
    print("|---|---|---|---|---|---|")
    for level in args.levels:
        pp = statistics.median(m["pp"] for m in results[level])
        tg = statistics.median(m["tg"] for m in results[level])
        info = results[level][0]["info"]
        from ember.core.llm.llama_build import compiled_features

        feats = ", ".join(compiled_features(info))
        print(
            f"| {level} | {pp:.0f} | {pp / base_pp:.2f}x | {tg:.1f} | {tg / base_tg:.2f}x "
            f"| {feats} |"
        )


if __name__ == "__main__":
    main()
