"""What beam search and DVTS cost on the starter model: tokens counted, and wall time.

For each strategy (beam, dvts) and budget N (4, 8, 16) with width M, over a few arithmetic
problems, it reports the policy tokens sampled and decoded, the verifier tokens decoded, the
tokens of all scored prefixes counted once (problem + every distinct step), and their ratio:
the step-scoring cache decodes every scored token once, so the ratio should stay close to 1
whatever the branching. The judge format also decodes a question after each step and rewinds
it; those tokens are reported apart ("probe").

The starter model stands in for the verifier model (the numbers measure the search and the
cache, not the verifier's judgement).

    python benchmarks/search_cost.py [--ns 4,8,16] [--width 2] [--verifier prm-math-shepherd]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "app"))

from outthink.config import Settings  # noqa: E402
from outthink.engine import Model, physical_cores  # noqa: E402
from outthink.prompts import PromptFormat  # noqa: E402
from outthink.search.config import SearchConfig  # noqa: E402
from outthink.search.runner import solve  # noqa: E402
from outthink.search.summary import summarize  # noqa: E402
from outthink.starter import starter_model_path  # noqa: E402
from outthink.verifiers import get_spec  # noqa: E402
from outthink.verifiers.base import VerifierContext  # noqa: E402

PROBLEMS = [
    "A baker makes 12 muffins and sells 5. How many muffins are left?",
    "Sam reads 4 pages a day for 6 days. How many pages does he read?",
    "There are 9 birds on a tree and 7 more land. How many birds are there now?",
]


def measure(
    model: Model,
    strategy: str,
    n: int,
    width: int,
    verifier_kind: str,
    max_tokens: int,
    threads: int,
) -> dict:
    totals = {
        "policy_tokens": 0,
        "policy_decoded": 0,
        "verifier_tokens": 0,
        "unique_prefix_tokens": 0,
        "probe_tokens": 0,
        "seconds": 0.0,
        "steps": 0,
    }
    verifier = get_spec(verifier_kind).factory({}, VerifierContext(model=model, threads=threads))
    try:
        for i, problem in enumerate(PROBLEMS):
            cfg = SearchConfig(
                strategy=strategy,
                n=n,
                width=width,
                max_tokens=max_tokens,
                max_steps=6,
                seed=100 + i,
                select="weighted",
            )
            t0 = time.perf_counter()
            events = list(
                solve(
                    problem,
                    model,
                    verifier,
                    cfg,
                    prompt_format=PromptFormat("completion"),
                    threads=threads,
                )
            )
            dt = time.perf_counter() - t0
            s = summarize(events)
            if s["status"] != "finished":
                raise SystemExit(f"{strategy} N={n}: run {s['status']}: {s.get('error')}")
            u = s["usage"]
            totals["policy_tokens"] += u["policy_tokens"]
            totals["policy_decoded"] += u["decoded_tokens"]
            totals["verifier_tokens"] += u["verifier_tokens"]
            totals["unique_prefix_tokens"] += u["unique_prefix_tokens"]
            totals["probe_tokens"] += u["probe_tokens"]
            totals["seconds"] += dt
            totals["steps"] += len(s["tree"]["nodes"])
    finally:
        verifier.close()
    scored = totals["verifier_tokens"] - totals["probe_tokens"]
    totals["ratio_scored_to_unique"] = round(scored / max(1, totals["unique_prefix_tokens"]), 3)
    totals["ratio_all_to_unique"] = round(
        totals["verifier_tokens"] / max(1, totals["unique_prefix_tokens"]), 3
    )
    totals["seconds"] = round(totals["seconds"], 2)
    return totals


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--ns", default="4,8,16")
    ap.add_argument("--width", type=int, default=2)
    ap.add_argument("--strategies", default="beam,dvts")
    ap.add_argument(
        "--verifier",
        default="prm-math-shepherd",
        help="a model-based verifier kind (the starter model plays the verifier)",
    )
    ap.add_argument("--max-tokens", type=int, default=160)
    ap.add_argument("--threads", type=int, default=physical_cores())
    ap.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "search_cost.json"
    )
    args = ap.parse_args()
    model = Model(starter_model_path(Settings()))
    rows = []
    print(
        f"verifier {args.verifier} on {model.path.name}, width {args.width}, "
        f"{len(PROBLEMS)} problems per row, {args.threads} threads\n"
    )
    head = (
        f"{'strategy':<9}{'N':>3} {'policy tok':>10} {'policy dec':>10} {'verif dec':>10} "
        f"{'unique':>8} {'probe':>7} {'dec/unique':>10} {'steps':>6} {'seconds':>8}"
    )
    print(head)
    try:
        for strategy in args.strategies.split(","):
            for n in (int(x) for x in args.ns.split(",")):
                r = measure(
                    model, strategy, n, args.width, args.verifier, args.max_tokens, args.threads
                )
                rows.append({"strategy": strategy, "n": n, "width": args.width, **r})
                print(
                    f"{strategy:<9}{n:>3} {r['policy_tokens']:>10} {r['policy_decoded']:>10} "
                    f"{r['verifier_tokens']:>10} {r['unique_prefix_tokens']:>8} "
                    f"{r['probe_tokens']:>7} {r['ratio_scored_to_unique']:>10.3f} "
                    f"{r['steps']:>6} {r['seconds']:>8.1f}",
                    flush=True,
                )
    finally:
        model.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"verifier": args.verifier, "rows": rows}, indent=2))
    print(f"\nwrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
