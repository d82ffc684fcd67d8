"""Folding real strategy event streams (scripted generator, no model) into what views draw."""

from __future__ import annotations

from typing import Any

import pytest

from outthink.events import AnswerSelected, Event, TokensGenerated
from outthink.generation import CancelToken
from outthink.gui.runstate import RunState
from outthink.gui.tree_view import ROOT, tree_layout
from outthink.search.config import SearchConfig
from outthink.search.runner import run_search
from outthink.search.summary import summarize
from tests.fakes import FakeGenerator
from tests.gui.conftest import ANSWERS, PROMPT, TableVerifier, answer_script


def events_of(
    cfg: SearchConfig, table: dict[int, float] | None = None, *, stop_at_candidate: int = -1
) -> list[Event]:
    """The run's events; ``stop_at_candidate``: press Stop when that candidate starts writing."""
    cancel = CancelToken()
    gen = FakeGenerator(answer_script(ANSWERS), cancel=cancel)
    events = []
    for ev in run_search(
        "What is 2 + 5?",
        PROMPT,
        cfg,
        make_generator=lambda _c: gen,
        verifier=TableVerifier(table),
        cancel=cancel,
    ):
        events.append(ev)
        if isinstance(ev, TokensGenerated) and ev.candidate == stop_at_candidate:
            cancel.cancel()
    return events


def test_best_of_n_fold_matches_the_stream() -> None:
    events = events_of(SearchConfig(n=6, select="weighted"))
    st = RunState()
    changes = st.apply_all(events)
    assert changes.finished and changes.selection
    assert st.status == "finished" and st.problem == "What is 2 + 5?"
    assert sorted(st.candidates) == list(range(6))
    for cid, cand in st.candidates.items():
        path = st.path(cid)
        assert [n.index for n in path] == [0, 1, 2]
        assert all(n.candidate == cid and n.score is not None for n in path)
        assert cand.finished and cand.live_text == ""
        assert cand.answer == ANSWERS[cid]
    (sel,) = [e for e in events if isinstance(e, AnswerSelected)]
    assert [c.id for c in st.candidates.values() if c.selected] == [sel.candidate]
    assert st.winning_group() == "7"
    groups = {a: (v, round(s, 3)) for a, v, s in st.answer_groups()}
    assert groups["7"][0] == 3 and set(groups) == {"5", "7", "\\frac{1}{2}", "9"}
    assert st.tokens() == st.usage["policy_tokens"] > 0
    assert not st.uses_tree()


def test_live_text_accumulates_until_the_step_is_proposed() -> None:
    st = RunState()
    events = events_of(SearchConfig(n=2))
    first_step = next(i for i, e in enumerate(events) if e.kind == "step_proposed")
    st.apply_all(events[:first_step])
    streamed = "".join(e.text for e in events[:first_step] if isinstance(e, TokensGenerated)
                       and e.candidate == 0)
    assert st.candidates[0].live_text == streamed != ""
    st.apply(events[first_step])
    assert st.candidates[0].live_text == "" and len(st.path(0)) == 1


def test_beam_search_paths_inherit_prefixes_and_prune() -> None:
    st = RunState()
    st.apply_all(events_of(SearchConfig(strategy="beam", n=4, width=2, select="vanilla")))
    assert st.status == "finished" and st.uses_tree()
    pruned = [c for c in st.candidates.values() if c.pruned]
    finished = [c for c in st.candidates.values() if c.finished]
    assert pruned and len(finished) == 4
    # A finished beam's card shows the whole solution: steps written by its ancestors first.
    for cand in finished:
        path = st.path(cand.id)
        assert [n.index for n in path] == list(range(len(path)))
        assert path[-1].candidate == cand.id
        assert any(n.candidate != cand.id for n in path[:-1])
    states = {n.state for n in st.nodes.values()}
    assert {"kept", "pruned", "finished"} <= states
    assert all(c.pruned_because in ("score", "duplicate") for c in pruned)
    assert all(n.pruned_because for n in st.nodes.values() if n.state == "pruned")
    chosen = st.selected_path()
    assert chosen and all(n in st.nodes for n in chosen)


def test_tree_layout_is_tidy() -> None:
    st = RunState()
    st.apply_all(events_of(SearchConfig(strategy="beam", n=4, width=2)))
    pos = tree_layout(st.nodes, st.children)
    assert pos[ROOT][0] == 0
    for node in st.nodes.values():
        depth = pos[node.node][0]
        parent_depth = pos[ROOT if node.parent is None else node.parent][0]
        assert depth == parent_depth + 1
    leaves = [pos[n][1] for n in st.nodes if not st.children.get(n)]
    assert sorted(leaves) == [float(i) for i in range(len(leaves))]  # one row each
    for parent, kids in st.children.items():
        if parent is not None and kids:
            rows = [pos[k][1] for k in kids]
            assert pos[parent][1] == (min(rows) + max(rows)) / 2


def test_tree_layout_of_a_deep_chain_does_not_recurse() -> None:
    from outthink.gui.runstate import NodeInfo

    nodes = {i: NodeInfo(i, i - 1 if i else None, 0, i, "x", 1, "delimiter") for i in range(5000)}
    children = {(i - 1 if i else None): [i] for i in range(5000)}
    pos = tree_layout(nodes, children)
    assert pos[4999] == (5000, 0.0)


def test_a_failed_run_keeps_its_error() -> None:
    from outthink.events import RunFailed

    st = RunState()
    st.apply(RunFailed("The model file is damaged.", "Download it again."))
    assert st.status == "failed"
    assert st.error == ("The model file is damaged.", "Download it again.")


def assert_gui_shows_the_summary(st: RunState, summary: dict[str, Any]) -> None:
    """What the cards, tree and answer panel show is what ``solve --json`` prints."""
    assert (st.problem, st.usage) == (summary["problem"], summary["usage"])
    assert st.status == summary["status"] or (st.status, summary["status"]) == ("idle", "running")
    listed = {c["id"]: c for c in summary["candidates"]}
    for cid, c in listed.items():
        cand, path = st.candidates[cid], st.path(cid)
        # The card walks back from the last step; the summary adds the inherited prefix to
        # the candidate's own steps: two ways to the same solution.
        assert "".join(n.text for n in path) == c["text"]
        assert len(path) == c["inherited_steps"] + len(c["steps"])
        own = path[c["inherited_steps"] :]
        assert [(n.node, n.text, n.score) for n in own] == [
            (s["node"], s["text"], s["score"]) for s in c["steps"]
        ]
        assert all(n.candidate == cid for n in own)
        assert (cand.aggregate, cand.answer, cand.selected, cand.finished, cand.pruned) == (
            c["score"], c["answer"], c["selected"], c["finished"], c["pruned"]
        )
        assert (cand.reason if cand.finished else None) == c["finish_reason"]
    for cid in set(st.candidates) - set(listed):
        # A card the summary leaves out has only streamed text so far.
        cand = st.candidates[cid]
        assert cand.live_text and not st.path(cid)
        assert not (cand.finished or cand.pruned or cand.selected) and cand.aggregate is None
    assert {
        n["id"]: (n["parent"], n["candidate"], n["index"], n["text"], n["tokens"], n["score"],
                  n["state"])
        for n in summary["tree"]["nodes"]
    } == {
        k: (n.parent, n.candidate, n.index, n.text, n.tokens, n.score, n.state)
        for k, n in st.nodes.items()
    }
    sel = summary["selection"]
    if sel is None:
        assert st.selection is None and summary["answer"] is None
    else:
        assert st.selection is not None and st.selection.answer == summary["answer"]
        assert (st.selection.candidate, st.selection.rule, dict(st.selection.votes)) == (
            sel["candidate"], sel["rule"], sel["votes"]
        )
        chosen = [c for c in summary["candidates"] if c["selected"]]
        assert [c.id for c in st.candidates.values() if c.selected] == [c["id"] for c in chosen]
        if chosen:
            steps = {s["node"] for s in chosen[0]["steps"]}
            assert steps <= st.selected_path()
            assert len(st.selected_path()) == chosen[0]["inherited_steps"] + len(steps)
    assert (st.error is None) == ("error" not in summary)
    if st.error is not None:
        assert summary["error"] == {"error": st.error[0], "hint": st.error[1]}


@pytest.mark.parametrize(
    "cfg,stop_at",
    [
        (SearchConfig(n=6, select="weighted"), -1),
        (SearchConfig(strategy="beam", n=4, width=2, select="vanilla"), -1),
        (SearchConfig(strategy="dvts", n=4, width=2, select="majority"), -1),
        (SearchConfig(strategy="adaptive", n=8), -1),
        # Stopped as the first children start writing: cards without a step yet.
        (SearchConfig(strategy="beam", n=4, width=2), 4),
        (SearchConfig(n=0), -1),  # a failed run
    ],
    ids=["best_of_n", "beam", "dvts", "adaptive", "beam-stopped", "failed"],
)
def test_the_gui_shows_what_the_summary_says_at_every_repaint(
    cfg: SearchConfig, stop_at: int
) -> None:
    events = events_of(cfg, stop_at_candidate=stop_at)
    st = RunState()
    for end in range(0, len(events), 5):  # the controller folds events in batches
        st.apply_all(events[end : end + 5])
        assert_gui_shows_the_summary(st, summarize(events[: end + 5]))
    if stop_at >= 0:
        assert st.status == "cancelled"
        assert set(st.candidates) - {c["id"] for c in summarize(events)["candidates"]}


def test_token_counter_counts_streamed_text_before_a_step_ends() -> None:
    from outthink.events import RunStarted

    st = RunState()
    st.apply(RunStarted("What is 2 + 2?", {}))
    for i in range(5):
        st.apply(TokensGenerated(0, f"w{i} "))
        st.apply(TokensGenerated(1, f"v{i} "))
    assert st.tokens() == 10  # one live delta per decoded token of a candidate
