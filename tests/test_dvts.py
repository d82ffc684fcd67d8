"""DVTS with a scripted generator (no model): independent greedy subtrees."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from outthink.events import (
    BeamKept,
    BeamPruned,
    CandidateFinished,
    Event,
    StepProposed,
    StepScored,
)
from outthink.search.config import SearchConfig
from outthink.search.strategies import get_strategy
from outthink.search.summary import summarize
from tests.test_beam import (
    IdVerifier,
    SpyGenerator,
    TextVerifier,
    good_scores,
    hashed,
    looking_script,
    node_texts,
    of,
    run_events,
    selected,
)


def dvts_cfg(**kw: object) -> SearchConfig:
    return SearchConfig(strategy="dvts", **kw)  # type: ignore[arg-type]


def rooted(seed: int, index: int, text: str) -> tuple[str, str]:
    """Every solution starts with its root seed, so tests can tell subtrees apart by text."""
    if index == 0:
        return f"r{seed}.\n\n", "delimiter"
    return f"[{seed}:{index}]\n\n", "delimiter"


def subtree_of(events: list[Event], width: int) -> dict[int, int]:
    """node -> subtree index, from the root candidate each node descends from."""
    out: dict[int, int] = {}
    for e in sorted(of(StepProposed, events), key=lambda e: e.node):
        out[e.node] = e.candidate // width if e.parent is None else out[e.parent]
    return out


def test_registered_and_sized() -> None:
    spec = get_strategy("dvts")
    assert spec.uses_width
    assert spec.sequences(dvts_cfg(n=8, width=4)) == 8
    assert spec.sequences(dvts_cfg(n=8, width=4, lookahead=1)) == 16


@pytest.mark.parametrize(("n", "width", "shares"), [(6, 2, [2, 2, 2]), (5, 2, [3, 2]), (3, 4, [3])])
def test_each_subtree_expands_its_share_and_keeps_one(
    n: int, width: int, shares: list[int]
) -> None:
    gen = SpyGenerator(rooted)
    steps = 4
    events = run_events(dvts_cfg(n=n, width=width, max_steps=steps), gen)
    trees = len(shares)
    assert [len(c) for c in gen.extend_calls] == [n] * steps
    assert gen.peak == n and gen.live == []
    proposed = of(StepProposed, events)
    kept = of(BeamKept, events)
    sub = subtree_of(events, shares[0])
    for r in range(steps - 1):
        round_nodes = [e for e in proposed if e.index == r]
        assert sorted(sub[e.node] for e in round_nodes) == [
            t for t, share in enumerate(shares) for _ in range(share)
        ]
        kept_r = [k for k in kept if k.node in {e.node for e in round_nodes}]
        assert sorted(sub[k.node] for k in kept_r) == list(range(trees))
        # the kept path's children are the subtree's next candidates
        for k in kept_r:
            assert sum(e.parent == k.node for e in proposed) == shares[sub[k.node]]
    # kept paths are forked, never decoded again (the first child reuses the sequence)
    assert gen.forks == (n - trees) * (steps - 1)
    assert gen.usage.generated_tokens == sum(len(e.text) for e in proposed)
    fins = of(CandidateFinished, events)
    assert len(fins) == trees, "one solution per subtree"
    assert sorted(sub[f.node] for f in fins) == list(range(trees))
    assert selected(events).candidate in {f.candidate for f in fins}


def low_for_last_subtree(text: str) -> float:
    if text.startswith(("r4.", "r5.")):
        return 0.01 + hashed(text) / 100  # every candidate of subtree 2 scores below 0.02
    return 0.2 + hashed(text) * 0.8


def test_a_subtree_with_low_scores_still_keeps_its_own_best() -> None:
    events = run_events(
        dvts_cfg(n=6, width=2, max_steps=4),
        SpyGenerator(rooted),
        TextVerifier(low_for_last_subtree),
    )
    scored = {e.node: e.aggregate for e in of(StepScored, events)}
    sub = subtree_of(events, 2)
    kept = {k.node for k in of(BeamKept, events)}
    for r in range(4):
        for t in range(3):
            nodes = [e for e in of(StepProposed, events) if e.index == r and sub[e.node] == t]
            best = min(nodes, key=lambda e: (-scored[e.node], e.candidate))
            assert best.node in kept, (r, t)
            assert {e.node for e in nodes} & kept == {best.node}
    fins = of(CandidateFinished, events)
    assert sorted(sub[f.node] for f in fins) == [0, 1, 2]
    # beam search with the same scores drops subtree 2's roots at once: DVTS does not
    beam = run_events(
        SearchConfig(strategy="beam", n=6, width=2, max_steps=4),
        SpyGenerator(rooted),
        TextVerifier(low_for_last_subtree),
    )
    texts = node_texts(beam)
    assert not any(texts[f.node].startswith(("r4.", "r5.")) for f in of(CandidateFinished, beam))


def solutions_by_subtree(events: list[Event]) -> dict[int, str]:
    texts = node_texts(events)
    sub = subtree_of(events, 2)
    return {sub[f.node]: texts[f.node] for f in of(CandidateFinished, events)}


def test_a_subtree_choice_ignores_other_subtrees_scores() -> None:
    def flipped_for_subtree_0(text: str) -> float:
        return 1 - hashed(text) if text.startswith(("r0.", "r1.")) else hashed(text)

    def run_with(fn: Callable[[str], float]) -> list[Event]:
        return run_events(
            dvts_cfg(n=6, width=2, max_steps=5), SpyGenerator(rooted), TextVerifier(fn)
        )

    a = solutions_by_subtree(run_with(hashed))
    b = solutions_by_subtree(run_with(flipped_for_subtree_0))
    assert a[0] != b[0], "the perturbation changes subtree 0's own path"
    assert (a[1], a[2]) == (b[1], b[2]), "and nothing else"


def test_a_finished_subtree_frees_its_slots_while_the_others_go_on() -> None:
    def script(seed: int, index: int, text: str) -> tuple[str, str]:
        if index == 1 and text.startswith(("r0.", "r1.")):
            return "The answer is 3.", "eog"
        return rooted(seed, index, text)

    gen = SpyGenerator(script)
    events = run_events(dvts_cfg(n=6, width=2, max_steps=4), gen)
    assert [len(c) for c in gen.extend_calls] == [6, 6, 4, 4]
    fins = of(CandidateFinished, events)
    assert [f.reason for f in fins] == ["eog", "steps", "steps"]
    # the subtree's other candidate finished too, but it was not chosen: pruned, not a solution
    assert len(of(BeamPruned, events)) == 3 + 3 + 2 + 2


def test_last_step_runs_to_the_end() -> None:
    gen = SpyGenerator(rooted)
    run_events(dvts_cfg(n=4, width=2, max_steps=2), gen)
    assert gen.extend_stops == [[("\n\n",)] * 4, [()] * 4]
    assert len({s.seed for _, s in gen.sampling_calls}) == 4


def test_lookahead_changes_the_choice_inside_a_subtree() -> None:
    plain = run_events(
        dvts_cfg(n=4, width=2, max_steps=3), SpyGenerator(looking_script), TextVerifier(good_scores)
    )
    assert sorted(k.candidate for k in of(BeamKept, plain) if k.node < 4) == [0, 2]
    gen = SpyGenerator(looking_script)
    ahead = run_events(
        dvts_cfg(n=4, width=2, max_steps=3, lookahead=2), gen, TextVerifier(good_scores)
    )
    assert sorted(k.candidate for k in of(BeamKept, ahead) if k.node < 4) == [0, 3]
    assert gen.peak == 8 and gen.live == []
    first = {e.candidate: e.text for e in of(StepProposed, ahead) if e.index == 0}
    assert first[3] == "start s3.\n\n"


# Twelve roots, six subtrees of two: even ids win their subtree. Winners answer 5, 5, 5 (0.3
# each), 7, 7 (0.6 each) and 9 (0.65), so each rule picks a different answer.
ANSWERS = {0: "5", 2: "5", 4: "5", 6: "7", 8: "7", 10: "9"}
TABLE = {0: 0.3, 2: 0.3, 4: 0.3, 6: 0.6, 8: 0.6, 10: 0.65}


@pytest.mark.parametrize(
    ("rule", "expected"), [("majority", "5"), ("weighted", "7"), ("vanilla", "9")]
)
def test_each_selection_rule_applies_to_the_subtree_solutions(rule: str, expected: str) -> None:
    def script(seed: int, index: int, text: str) -> tuple[str, str]:
        return f"The answer is {ANSWERS.get(seed, '1')}.", "eog"

    events = run_events(
        dvts_cfg(n=12, width=2, select=rule), SpyGenerator(script), IdVerifier(TABLE, default=0.1)
    )
    sel = selected(events)
    assert (sel.rule, sel.answer) == (rule, expected)
    assert sel.votes == {"5": 3, "7": 2, "9": 1}, "only the six subtree solutions vote"


def test_summary_tree_links_children_to_their_kept_parents() -> None:
    events = run_events(dvts_cfg(n=6, width=3, max_steps=4), SpyGenerator(rooted))
    nodes = {n["id"]: n for n in summarize(events)["tree"]["nodes"]}
    for node in nodes.values():
        if node["parent"] is not None:
            parent = nodes[node["parent"]]
            assert parent["state"] == "kept" and parent["index"] == node["index"] - 1
    states = [n["state"] for n in nodes.values()]
    assert states.count("finished") == 2 and states.count("kept") == 2 * 3
    assert states.count("pruned") == 2 * 2 * 4
