"""Engine throughput on the starter model, in one run, against two yardsticks.

For N = 1, 4, 8, 16 sequences sharing one prompt, each generating the same number of new tokens
with the same thread count, it measures the aggregate tokens/s of:

* Outthink's engine (one ``llama_decode`` per token step for all live sequences, sampling
  included);
* N sequential ``Llama.create_completion`` calls (llama-cpp-python's high-level API);
* llama.cpp's own ``llama-batched-bench`` (text-generation column ``S_TG t/s``, shared prompt,
  unified KV cache), built by this script from the same llama-cpp-python source distribution's
  vendored llama.cpp, with the same CMake flags as the installed wheel, into a cache folder.

Timings on a shared machine are noisy: compare the ratios measured within one run.

    python benchmarks/engine_throughput.py [--ns 1,4,8,16] [--tokens 64] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "app"))

from outthink.config import Settings, cache_dir  # noqa: E402
from outthink.engine import LlamaGenerator, Model, physical_cores, plan_context  # noqa: E402
from outthink.generation import SamplingParams, run_to_completion  # noqa: E402
from outthink.starter import starter_model_path  # noqa: E402

PROMPT = (
    "Once upon a time, in a small village at the edge of a great forest, there lived an old "
    "clockmaker who repaired every clock in the valley. One winter morning a stranger knocked "
    "on his door carrying a broken pocket watch, and"
)


def llama_version() -> str:
    text = (ROOT / "pyproject.toml").read_text()
    m = re.search(r'"llama-cpp-python==([0-9.]+)"', text)
    assert m, "llama-cpp-python must be pinned in pyproject.toml"
    return m.group(1)


def cmake_args() -> list[str]:
    out = subprocess.run(
        ["bash", str(ROOT / "packaging" / "build_llama_wheel.sh"), "--print-cmake-args"],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout
    return out.split()


def build_batched_bench(version: str) -> Path:
    """Build llama-batched-bench from the pinned sdist's vendored llama.cpp (cached)."""
    args = cmake_args()
    tag = re.sub(r"[^A-Za-z0-9]+", "-", " ".join(args))[:80]
    base = cache_dir() / "bench" / f"llama-cpp-python-{version}"
    binary = base / f"build-{tag}" / "bin" / "llama-batched-bench"
    if binary.exists():
        return binary
    base.mkdir(parents=True, exist_ok=True)
    src = base / "src"
    if not (src / "vendor" / "llama.cpp" / "CMakeLists.txt").exists():
        print("Downloading the llama-cpp-python source distribution...", file=sys.stderr)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--no-binary",
                ":all:",
                f"llama-cpp-python=={version}",
                "-d",
                str(base),
            ],
            check=True,
        )
        archive = next(base.glob(f"llama_cpp_python-{version}.tar.gz"))
        with tarfile.open(archive) as tar:
            tar.extractall(base, filter="data")
        shutil.rmtree(src, ignore_errors=True)
        (base / f"llama_cpp_python-{version}").rename(src)
    build = binary.parent.parent
    print(
        f"Building llama-batched-bench ({' '.join(args)}); a few minutes once...", file=sys.stderr
    )
    subprocess.run(
        [
            "cmake",
            "-S",
            str(src / "vendor" / "llama.cpp"),
            "-B",
            str(build),
            "-DCMAKE_BUILD_TYPE=Release",
            "-DLLAMA_CURL=OFF",
            "-DLLAMA_BUILD_TESTS=OFF",
            "-DLLAMA_BUILD_SERVER=OFF",
            *args,
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run(
        [
            "cmake",
            "--build",
            str(build),
            "--target",
            "llama-batched-bench",
            f"-j{os.cpu_count() or 2}",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return binary


def run_native(
    binary: Path, model: Path, ns: list[int], npp: int, ntg: int, threads: int
) -> dict[int, float]:
    ctx = plan_context(npp, max(ns), ntg)
    cmd = [
        str(binary),
        "-m",
        str(model),
        "-c",
        str(ctx),
        "-b",
        "512",
        "-ub",
        "512",
        "-npp",
        str(npp),
        "-ntg",
        str(ntg),
        "-npl",
        ",".join(map(str, ns)),
        "-t",
        str(threads),
        "-kvu",
        "-pps",
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    # | PP | TG | B | N_KV | T_PP s | S_PP t/s | T_TG s | S_TG t/s | T s | S t/s |
    result = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 8 and cells[0].isdigit():
            result[int(cells[2])] = float(cells[7])
    return result


def run_engine(
    model: Model, ns: list[int], ntg: int, threads: int, repeats: int
) -> dict[int, dict]:
    out = {}
    for n in ns:
        best = None
        for r in range(repeats):
            gen = LlamaGenerator(
                model, n_ctx=plan_context(256, n, ntg), n_seq_max=n, threads=threads
            )
            try:
                ids = gen.start(PROMPT, n, SamplingParams(max_tokens=ntg, stop=(), seed=1000 * r))
                t0 = time.perf_counter()
                outs = run_to_completion(gen.extend(ids))
                dt = time.perf_counter() - t0
            finally:
                gen.close()
            tokens = sum(len(o.tokens) + (o.stop == "eog") for o in outs)
            rate = tokens / dt
            if best is None or rate > best["tok_s"]:
                best = {
                    "tok_s": rate,
                    "tokens": tokens,
                    "seconds": dt,
                    "prompt_tokens": gen.usage.prompt_tokens,
                }
        out[n] = best
    return out


def run_sequential(model_path: Path, ns: list[int], ntg: int, threads: int) -> dict[int, dict]:
    import llama_cpp

    llm = llama_cpp.Llama(
        str(model_path),
        n_ctx=plan_context(256, 1, ntg),
        n_threads=threads,
        n_threads_batch=threads,
        n_batch=512,
        verbose=False,
    )
    out = {}
    try:
        llm.create_completion(PROMPT, max_tokens=4)  # warm-up
        for n in ns:
            t0 = time.perf_counter()
            tokens = 0
            for i in range(n):
                res = llm.create_completion(
                    PROMPT,
                    max_tokens=ntg,
                    temperature=0.8,
                    top_p=0.95,
                    top_k=40,
                    min_p=0.05,
                    seed=i,
                )
                tokens += res["usage"]["completion_tokens"]
            dt = time.perf_counter() - t0
            out[n] = {"tok_s": tokens / dt, "tokens": tokens, "seconds": dt}
    finally:
        llm.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--ns", default="1,4,8,16")
    ap.add_argument("--tokens", type=int, default=64, help="new tokens per sequence")
    ap.add_argument("--threads", type=int, default=physical_cores())
    ap.add_argument("--repeats", type=int, default=2, help="engine runs per N (best is kept)")
    ap.add_argument("--skip-native", action="store_true")
    ap.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "engine_throughput.json"
    )
    args = ap.parse_args()
    ns = [int(x) for x in args.ns.split(",")]
    version = llama_version()
    native_bin = None if args.skip_native else build_batched_bench(version)
    path = starter_model_path(Settings())
    model = Model(path)
    npp = len(model.tokenize(PROMPT, add_special=True))
    print(
        f"model {path.name}, prompt {npp} tokens, {args.tokens} new tokens, {args.threads} threads",
        file=sys.stderr,
    )
    engine = run_engine(model, ns, args.tokens, args.threads, args.repeats)
    model.close()
    sequential = run_sequential(path, ns, args.tokens, args.threads)
    native = run_native(native_bin, path, ns, npp, args.tokens, args.threads) if native_bin else {}

    rows = []
    print(
        f"\n{'N':>3} {'engine tok/s':>13} {'sequential':>11} {'native TG':>10} "
        f"{'engine/native':>14} {'engine/seq':>11} {'vs engine N=1':>14}"
    )
    for n in ns:
        e = engine[n]["tok_s"]
        s = sequential[n]["tok_s"]
        nat = native.get(n)
        row = {
            "n": n,
            "engine_tok_s": round(e, 2),
            "sequential_tok_s": round(s, 2),
            "native_tg_tok_s": nat,
            "engine_vs_native": round(e / nat, 3) if nat else None,
            "engine_vs_sequential": round(e / s, 3),
            "engine_vs_engine_n1": round(e / engine[ns[0]]["tok_s"], 3),
        }
        rows.append(row)
        nat_s = f"{nat:10.2f}" if nat else f"{'-':>10}"
        ratio = f"{e / nat:14.3f}" if nat else f"{'-':>14}"
        print(
            f"{n:>3} {e:13.2f} {s:11.2f} {nat_s} {ratio} {e / s:11.3f} "
            f"{e / engine[ns[0]]['tok_s']:14.3f}"
        )
    report = {
        "model": path.name,
        "prompt_tokens": npp,
        "new_tokens": args.tokens,
        "threads": args.threads,
        "llama_cpp_python": version,
        "cmake_args": cmake_args(),
        "rows": rows,
        "engine": engine,
        "sequential": sequential,
        "native": native,
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
