"""Folding real strategy event streams (scripted generator, no model) into what views draw."""

from __future__ import annotations

from outthink.events import AnswerSelected, Event, TokensGenerated
from outthink.gui.runstate import RunState
from outthink.gui.tree_view import ROOT, tree_layout
from outthink.search.config import SearchConfig
from outthink.search.runner import run_search
from tests.fakes import FakeGenerator
from tests.gui.conftest import ANSWERS, PROMPT, TableVerifier, answer_script


def events_of(cfg: SearchConfig, table: dict[int, float] | None = None) -> list[Event]:
    gen = FakeGenerator(answer_script(ANSWERS))
    return list(
        run_search(
            "What is 2 + 5?",
            PROMPT,
            cfg,
            make_generator=lambda _c: gen,
            verifier=TableVerifier(table),
        )
    )


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
