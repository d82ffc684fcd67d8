"""Beam search with a scripted generator and text-scoring verifiers (no model).

Also home of the helpers the DVTS and adaptive tests share: a spying fake generator, a verifier
that scores a candidate's whole text and records what it saw, and small event helpers.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass, field

import pytest

from outthink.events import (
    AnswerSelected,
    BeamKept,
    BeamPruned,
    CandidateFinished,
    Event,
    RunFinished,
    StepProposed,
    StepScored,
    TokensGenerated,
)
from outthink.generation import CancelToken, SamplingParams, StepOutput, TokenDeltas
from outthink.prompts import Prompt
from outthink.search.config import SearchConfig
from outthink.search.runmodel import RunModel
from outthink.search.runner import run_search
from outthink.search.selection import Scored, select
from outthink.search.strategies import get_strategy, strategy_names
from outthink.search.summary import summarize
from outthink.verifiers.base import StatelessSession, StepRecord
from tests.fakes import FakeGenerator

PROMPT = Prompt("Problem: x\nSolution:", "completion", has_bos=False, end_markers=("Problem:",))


# --- shared helpers ---------------------------------------------------------------------------


@dataclass
class SpyGenerator(FakeGenerator):
    """A FakeGenerator that checks the StepGenerator contract and records how it was used."""

    peak: int = 0  # most sequences alive at once
    fork_calls: list[SamplingParams | None] = field(default_factory=list)
    sampling_calls: list[tuple[int, SamplingParams]] = field(default_factory=list)
    extend_stops: list[list[tuple[str, ...]]] = field(default_factory=list)
    dropped_texts: list[str] = field(default_factory=list)

    def _note_peak(self) -> None:
        self.peak = max(self.peak, len(self.live))

    def start(self, prompt: str, n: int, sampling: SamplingParams) -> list[int]:
        ids = super().start(prompt, n, sampling)
        self._note_peak()
        return ids

    def extend(self, seqs: Sequence[int]) -> Generator[TokenDeltas, None, list[StepOutput]]:
        # Checked at call time: only live, unfinished sequences may be extended.
        assert set(seqs) <= set(self.live), f"extend on dropped sequences {seqs}"
        assert len(set(seqs)) == len(seqs)
        assert not any(self._seqs[s].finished for s in seqs)
        self.extend_stops.append([self._seqs[s].sampling.stop for s in seqs])
        return super().extend(seqs)

    def fork(self, seq: int, *, sampling: SamplingParams | None = None) -> int:
        sid = super().fork(seq, sampling=sampling)
        assert self.text(sid) == self.text(seq), "a fork continues its source's text"
        self.fork_calls.append(sampling)
        self._note_peak()
        return sid

    def drop(self, seq: int) -> None:
        if seq in self._seqs:
            self.dropped_texts.append(self.text(seq))
        super().drop(seq)

    def set_sampling(self, seq: int, sampling: SamplingParams) -> None:
        self.sampling_calls.append((seq, sampling))
        super().set_sampling(seq, sampling)


class RecordingSession(StatelessSession):
    """Scores each step by ``fn(whole text so far)``; records adds, drops and what it scored."""

    def __init__(self, problem: str, fn: Callable[[str], float]) -> None:
        super().__init__(problem)
        self.fn = fn
        self.added: list[tuple[int, int | None]] = []
        self.dropped: list[int] = []
        self.scored: list[tuple[int, str]] = []  # (verifier id, text the score is for)

    def add(self, candidate: int, parent: int | None = None) -> None:
        assert candidate not in self.history, "verifier ids are never reused while alive"
        assert parent is None or parent in self.history, "a fork needs a live parent"
        self.added.append((candidate, parent))
        super().add(candidate, parent)

    def drop(self, candidate: int) -> None:
        self.dropped.append(candidate)
        super().drop(candidate)

    def score_step(self, candidate: int, step: StepRecord) -> float:
        text = "".join(s.text for s in self.history[candidate])  # the step is already in
        self.scored.append((candidate, text))
        return self.fn(text)


class TextVerifier:
    name = "text"
    informative = True

    def __init__(self, fn: Callable[[str], float]) -> None:
        self.fn = fn
        self.sessions: list[RecordingSession] = []

    def open(self, problem: str) -> RecordingSession:
        session = RecordingSession(problem, self.fn)
        self.sessions.append(session)
        return session


class IdVerifier(TextVerifier):
    """Scores by a table keyed on the candidate id (tests pick the winners)."""

    def __init__(self, table: dict[int, float], default: float = 0.5) -> None:
        super().__init__(lambda text: default)
        self.table, self.default = table, default

    def open(self, problem: str) -> RecordingSession:
        table, default = self.table, self.default

        class Session(RecordingSession):
            def score_step(self, candidate: int, step: StepRecord) -> float:
                return table.get(candidate, default)

        session = Session(problem, self.fn)
        self.sessions.append(session)
        return session


def hashed(text: str) -> float:
    """A deterministic pseudo-random score in [0, 1) for a text."""
    return (zlib.crc32(text.encode()) % 997) / 997


def endless(seed: int, index: int, text: str) -> tuple[str, str]:
    """Never ends on its own: every step is distinct per seed and index."""
    return f"[{seed}:{index}] some work.\n\n", "delimiter"


def run_events(
    cfg: SearchConfig,
    gen: FakeGenerator,
    verifier: TextVerifier | None = None,
    cancel: CancelToken | None = None,
) -> list[Event]:
    events = list(
        run_search(
            "x",
            PROMPT,
            cfg,
            make_generator=lambda _cfg: gen,
            verifier=verifier or TextVerifier(hashed),
            cancel=cancel,
        )
    )
    assert isinstance(events[-1], RunFinished), events[-1]
    return events


def of(kind: type, events: Iterable[Event]) -> list:
    return [e for e in events if isinstance(e, kind)]


def node_texts(events: Iterable[Event]) -> dict[int, str]:
    """Each node's full solution text: its parents' texts followed by its own."""
    steps = {e.node: e for e in of(StepProposed, events)}
    out: dict[int, str] = {}
    for node in sorted(steps):  # parents always have smaller node ids
        ev = steps[node]
        out[node] = (out[ev.parent] if ev.parent is not None else "") + ev.text
    return out


def selected(events: Iterable[Event]) -> AnswerSelected:
    (sel,) = of(AnswerSelected, events)
    return sel


def beam_cfg(**kw: object) -> SearchConfig:
    return SearchConfig(strategy="beam", **kw)  # type: ignore[arg-type]


# --- registry and sizing --------------------------------------------------------------------


def test_registered_with_width_and_exact_sequence_counts() -> None:
    assert {"beam", "dvts", "adaptive"} <= set(strategy_names())
    spec = get_strategy("beam")
    assert spec.uses_width
    assert spec.sequences(beam_cfg(n=8)) == 8
    assert spec.sequences(beam_cfg(n=8, lookahead=2)) == 16  # one roll-out fork per beam
    # roll-outs run in passes that fit under llama.cpp's 256 sequences
    assert spec.sequences(beam_cfg(n=200, lookahead=1)) == 256


# --- counts and width -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "width", "keep", "children"),
    [
        (8, 2, 4, [2, 2, 2, 2]),
        (8, 4, 2, [4, 4]),
        (5, 2, 2, [3, 2]),  # N not a multiple of M: the better survivor takes the odd child
        (2, 4, 1, [2]),  # M > N: one survivor, N children
    ],
)
def test_beam_count_and_width_invariants(
    n: int, width: int, keep: int, children: list[int]
) -> None:
    gen = SpyGenerator(endless)
    steps = 4
    events = run_events(beam_cfg(n=n, width=width, max_steps=steps), gen)
    # nothing finishes before the step limit, so every round extends exactly N beams
    assert [len(c) for c in gen.extend_calls] == [n] * steps
    assert gen.peak == n
    proposed = of(StepProposed, events)
    kept = of(BeamKept, events)
    for r in range(steps - 1):
        round_nodes = {e.node for e in proposed if e.index == r}
        kept_r = [k for k in kept if k.node in round_nodes]
        assert len(kept_r) == keep
        # the survivors' children, in rank order of their parents
        kids = [sum(1 for e in proposed if e.parent == k.node) for k in kept_r]
        assert kids == children
        assert sum(1 for e in proposed if e.index == r + 1) == n
    # the first child reuses the survivor's sequence: N - keep forks per round
    assert gen.forks == (n - keep) * (steps - 1)
    assert sum(isinstance(e, BeamPruned) for e in events) == (n - keep) * (steps - 1)
    fins = of(CandidateFinished, events)
    assert len(fins) == n and {f.reason for f in fins} == {"steps"}
    assert gen.live == [], "every sequence is dropped by the end"
    sel = selected(events)
    assert sel.candidate in {f.candidate for f in fins}


@pytest.mark.parametrize("agg", ["last", "min", "mean"])
def test_kept_beams_are_the_top_scored(agg: str) -> None:
    gen = SpyGenerator(endless)
    n, width = 8, 2
    events = run_events(beam_cfg(n=n, width=width, max_steps=4, agg=agg), gen)
    scored = {e.node: e for e in of(StepScored, events)}
    proposed = of(StepProposed, events)
    kept_nodes = {e.node for e in of(BeamKept, events)}
    for r in range(3):
        nodes = [e for e in proposed if e.index == r]
        ranked = sorted(nodes, key=lambda e: (-scored[e.node].aggregate, e.candidate))
        assert {e.node for e in ranked[: n // width]} == kept_nodes & {e.node for e in nodes}
    for k in of(BeamKept, events):
        assert k.score == scored[k.node].aggregate


def test_a_verifier_that_favours_two_seeds_keeps_exactly_those() -> None:
    favoured = ("[2:0]", "[5:0]")
    gen = SpyGenerator(endless)
    verifier = TextVerifier(lambda t: 0.9 if any(f in t for f in favoured) else 0.1)
    events = run_events(beam_cfg(n=8, width=4, max_steps=3), gen, verifier)
    first = [k for k in of(BeamKept, events) if k.node < 8]
    assert sorted(k.candidate for k in first) == [2, 5]
    pruned_first = [p for p in of(BeamPruned, events) if p.node < 8]
    assert sorted(p.candidate for p in pruned_first) == [0, 1, 3, 4, 6, 7]
    assert {p.reason for p in pruned_first} == {"score"}
    # every finished beam descends from one of the two
    texts = node_texts(events)
    for fin in of(CandidateFinished, events):
        assert any(texts[fin.node].startswith(f"[{s}:0]") for s in (2, 5))


# --- prefixes are shared, never regenerated ---------------------------------------------------


def test_a_surviving_prefix_is_never_regenerated() -> None:
    gen = SpyGenerator(endless)
    verifier = TextVerifier(hashed)
    events = run_events(beam_cfg(n=6, width=3, max_steps=5), gen, verifier)
    proposed = of(StepProposed, events)
    # every generated character belongs to exactly one proposed step
    assert gen.usage.generated_tokens == sum(len(e.text) for e in proposed)
    # children hang off kept nodes of another (their parent) candidate
    kept = {k.node: k.candidate for k in of(BeamKept, events)}
    by_node = {e.node: e for e in proposed}
    for e in proposed:
        if e.parent is not None:
            assert e.parent in kept
            assert kept[e.parent] == by_node[e.parent].candidate != e.candidate
            assert e.index == by_node[e.parent].index + 1
    # each finished beam's sequence held exactly its node chain: parent text, then its own
    texts = node_texts(events)
    for fin in of(CandidateFinished, events):
        assert texts[fin.node] in gen.dropped_texts
    # the verifier scored every step on the candidate's own chain, nothing else
    (session,) = verifier.sessions
    assert sorted(session.scored) == sorted((e.candidate, texts[e.node]) for e in proposed)
    # verifier state forks with the beam: every child was added with its parent
    parents = {(e.candidate, by_node[e.parent].candidate) for e in proposed if e.parent is not None}
    assert parents <= set(session.added)


def test_duplicate_beams_are_filtered() -> None:
    def script(seed: int, index: int, text: str) -> tuple[str, str]:
        if index == 0:
            return f"Start {seed // 2}.\n\n", "delimiter"  # seeds 0/1 and 2/3 agree
        return f"[{seed}:{index}]\n\n", "delimiter"

    gen = SpyGenerator(script)
    events = run_events(beam_cfg(n=4, width=2, max_steps=3), gen)
    dups = [p for p in of(BeamPruned, events) if p.reason == "duplicate"]
    assert sorted(p.candidate for p in dups) == [1, 3]  # the higher id of each identical pair
    first_kept = [k.candidate for k in of(BeamKept, events) if k.node < 4]
    assert sorted(first_kept) == [0, 2]
    # no two beams that went on ever shared a text
    texts = node_texts(events)
    dup_nodes = {p.node for p in dups}
    for r in range(3):
        live = [
            texts[e.node]
            for e in of(StepProposed, events)
            if e.index == r and e.node not in dup_nodes
        ]
        assert len(live) == len(set(live))
    assert len(of(CandidateFinished, events)) == 4


def test_identical_beams_collapse_to_one_survivor_that_keeps_the_budget() -> None:
    gen = SpyGenerator(lambda seed, index, text: (f"Same step {index}.\n\n", "delimiter"))
    events = run_events(beam_cfg(n=4, width=2, max_steps=3), gen)
    dups = [p for p in of(BeamPruned, events) if p.reason == "duplicate"]
    assert len(dups) == 3 * 2  # three copies pruned in each of the two pruning rounds
    assert len(of(BeamKept, events)) == 2  # one survivor per round
    assert [len(c) for c in gen.extend_calls] == [4, 4, 4]  # its children refill the budget


# --- lookahead --------------------------------------------------------------------------------


def looking_script(seed: int, index: int, text: str) -> tuple[str, str]:
    """Only the continuation of "start s3" ever says GOOD; a verifier that looks ahead sees it."""
    if index == 0:
        return f"start s{seed}.\n\n", "delimiter"
    if index == 1 and text.startswith("start s3."):
        return "GOOD.\n\n", "delimiter"
    return f"step {index} s{seed}.\n\n", "delimiter"


def good_scores(text: str) -> float:
    return 0.9 if "GOOD" in text else 0.1


def test_without_lookahead_ties_keep_the_lowest_ids() -> None:
    events = run_events(
        beam_cfg(n=4, width=2, max_steps=3), SpyGenerator(looking_script), TextVerifier(good_scores)
    )
    assert sorted(k.candidate for k in of(BeamKept, events) if k.node < 4) == [0, 1]


def test_lookahead_scores_the_rollout_and_commits_the_bare_step() -> None:
    gen = SpyGenerator(looking_script)
    verifier = TextVerifier(good_scores)
    cfg = beam_cfg(n=4, width=2, max_steps=3, lookahead=1)
    events = run_events(cfg, gen, verifier)
    first = {e.candidate: e for e in of(StepProposed, events) if e.index == 0}
    assert first[3].text == "start s3.\n\n", "the bare step is what the candidate keeps"
    scores = {e.node: e.score for e in of(StepScored, events)}
    assert scores[first[3].node] == 0.9 and scores[first[0].node] == 0.1
    assert sorted(k.candidate for k in of(BeamKept, events) if k.node < 4) == [0, 3]
    # roll-outs: greedy forks, one per beam that goes on, all dropped again
    rollouts = [s for s in gen.fork_calls if s is not None]
    assert len(rollouts) == 4 + 4 and all(s.temperature == 0 for s in rollouts)
    assert [len(c) for c in gen.extend_calls] == [4, 4, 4, 4, 4]  # step, roll-out, ..., last
    assert gen.peak == get_strategy("beam").sequences(cfg) == 8
    assert gen.live == []
    # the verifier: real candidates only ever saw their own chain of committed steps ...
    (session,) = verifier.sessions
    texts = node_texts(events)
    real = {e.candidate for e in of(StepProposed, events)}
    expected = {(e.candidate, texts[e.node]) for e in of(StepProposed, events)}
    assert {s for s in session.scored if s[0] in real} == expected
    # ... roll-outs were forks of a candidate's state that already held the bare step, scored
    # on the longer text, and dropped
    forks = [(c, p) for c, p in session.added if c not in real]
    assert len(forks) == 8 and {c for c, _ in forks} <= set(session.dropped)
    rollout_texts = {text for c, text in session.scored if c not in real}
    assert "start s3.\n\nGOOD.\n\n" in rollout_texts
    # nothing was generated twice: every character is a committed step or a roll-out step
    last_scored = dict(s for s in session.scored if s[0] not in real)
    node_of = {e.candidate: e.node for e in of(StepProposed, events)}
    rollout_chars = sum(len(last_scored[v]) - len(texts[node_of[c]]) for v, c in forks)
    assert rollout_chars > 0
    committed = sum(len(e.text) for e in of(StepProposed, events))
    assert gen.usage.generated_tokens == committed + rollout_chars


def test_lookahead_stops_at_a_final_answer_and_runs_in_passes_for_large_n() -> None:
    def script(seed: int, index: int, text: str) -> tuple[str, str]:
        if index == 1:
            return "The answer is 4.\n\n", "delimiter"  # ends the roll-out early
        return f"[{seed}:{index}]\n\n", "delimiter"

    gen = SpyGenerator(script, n_seq_max=256)
    cfg = beam_cfg(n=200, width=4, max_steps=3, lookahead=3)
    events = run_events(cfg, gen)
    assert gen.peak == 256  # 200 beams + roll-outs in passes of 56
    # first round: 200 beams, then 4 passes of roll-outs (56 + 56 + 56 + 32), each one step
    assert [len(c) for c in gen.extend_calls[:5]] == [200, 56, 56, 56, 32]
    assert len(of(CandidateFinished, events)) == 200


# --- the tail ---------------------------------------------------------------------------------


def test_last_allowed_step_runs_to_the_end() -> None:
    gen = SpyGenerator(endless)
    run_events(beam_cfg(n=4, width=2, max_steps=3), gen)
    assert gen.extend_stops[:2] == [[("\n\n",)] * 4] * 2
    assert gen.extend_stops[2] == [()] * 4
    assert len(gen.sampling_calls) == 4
    assert all(s.step_tokens == 0 and s.temperature == 0.8 for _, s in gen.sampling_calls)
    assert len({s.seed for _, s in gen.sampling_calls}) == 4, "siblings need their own seeds"


def test_one_step_beams_generate_everything_at_once() -> None:
    gen = SpyGenerator(endless)
    events = run_events(beam_cfg(n=3, width=3, max_steps=1), gen)
    assert gen.extend_stops == [[()] * 3]
    assert not of(BeamKept, events) and len(of(CandidateFinished, events)) == 3


def test_finished_beams_leave_the_active_set_and_free_their_slots() -> None:
    def script(seed: int, index: int, text: str) -> tuple[str, str]:
        if index == 0:
            return f"start s{seed}.\n\n", "delimiter"
        if index == 1 and text.startswith("start s0."):
            return "The answer is 5.", "eog"
        return f"[{seed}:{index}]\n\n", "delimiter"

    gen = SpyGenerator(script)
    verifier = TextVerifier(lambda t: 0.9 if "s0." in t else hashed(t) / 2)
    events = run_events(beam_cfg(n=4, width=2, max_steps=4), gen, verifier)
    # round 1: s0's two children finish; the two others carry on as the whole budget
    assert [len(c) for c in gen.extend_calls] == [4, 4, 2, 2]
    fins = of(CandidateFinished, events)
    assert len(fins) == 4, "N beams in, N completed beams out"
    assert [f.reason for f in fins] == ["eog", "eog", "steps", "steps"]
    assert gen.peak == 4 and gen.live == []
    assert selected(events).answer == "5"


# --- selection ---------------------------------------------------------------------------------

ANSWERS = {0: "5", 1: "7", 2: "7", 3: "5", 4: "7", 5: "9"}
TABLE = {0: 0.9, 3: 0.9, 1: 0.2, 2: 0.2, 4: 0.2, 5: 0.95}


def answer_now(seed: int, index: int, text: str) -> tuple[str, str]:
    return f"So it is {seed}. The answer is {ANSWERS[seed]}.", "eog"


@pytest.mark.parametrize(
    ("rule", "expected"), [("vanilla", "9"), ("weighted", "5"), ("majority", "7")]
)
def test_each_selection_rule_applies_at_the_end(rule: str, expected: str) -> None:
    gen = SpyGenerator(answer_now)
    events = run_events(beam_cfg(n=6, width=2, select=rule), gen, IdVerifier(TABLE))
    sel = selected(events)
    assert (sel.rule, sel.answer) == (rule, expected)
    assert sel.votes == {"5": 2, "7": 3, "9": 1}


def test_selection_over_a_multi_round_search_matches_select() -> None:
    def script(seed: int, index: int, text: str) -> tuple[str, str]:
        if index < 2:
            return f"[{seed}:{index}]\n\n", "delimiter"
        return f"The answer is {len(text) % 3}.", "eog"

    for rule in ("vanilla", "majority", "weighted"):
        events = run_events(beam_cfg(n=6, width=2, max_steps=5, select=rule), SpyGenerator(script))
        fins = of(CandidateFinished, events)
        expected = select([Scored(f.candidate, f.answer, f.score) for f in fins], rule)
        assert selected(events).candidate == expected.candidate
        assert selected(events).answer == expected.answer


# --- summary, cancel --------------------------------------------------------------------------


def test_summary_tree_links_children_to_their_kept_parents() -> None:
    events = run_events(beam_cfg(n=6, width=2, max_steps=4), SpyGenerator(endless))
    nodes = {n["id"]: n for n in summarize(events)["tree"]["nodes"]}
    assert sum(n["parent"] is None for n in nodes.values()) == 6
    for node in nodes.values():
        if node["parent"] is not None:
            parent = nodes[node["parent"]]
            assert parent["state"] == "kept"
            assert parent["index"] == node["index"] - 1
            assert parent["candidate"] != node["candidate"]
    states = [n["state"] for n in nodes.values()]
    assert states.count("finished") == 6 and states.count("kept") == 3 * 3
    assert states.count("pruned") == 3 * 3


def stopped_run(stop: Callable[[Event], bool]) -> tuple[list[Event], SpyGenerator]:
    """A beam run (N=4) stopped at the first event ``stop`` accepts."""
    cancel = CancelToken()
    gen = SpyGenerator(endless, cancel=cancel)
    out = []
    for ev in run_search(
        "x",
        PROMPT,
        beam_cfg(n=4, max_steps=6),
        make_generator=lambda c: gen,
        verifier=TextVerifier(hashed),
        cancel=cancel,
    ):
        out.append(ev)
        if stop(ev):
            cancel.cancel()
    return out, gen


def test_cancel_mid_run_ends_cleanly() -> None:
    out, gen = stopped_run(lambda ev: isinstance(ev, BeamKept))
    assert isinstance(out[-1], RunFinished) and out[-1].cancelled
    assert not of(AnswerSelected, out)
    assert gen.closed


def test_summary_leaves_out_beams_stopped_before_their_first_step() -> None:
    # Stopped as a child beam starts writing: it has streamed text but no step yet.
    out, _ = stopped_run(lambda ev: isinstance(ev, TokensGenerated) and ev.candidate >= 4)
    model = RunModel.of(out)
    streamed = {cid for cid, c in model.candidates.items() if not c.reported}
    assert streamed and all(model.candidates[c].live_text for c in streamed)
    assert all(not model.path(c) for c in streamed)
    listed = {c["id"] for c in summarize(out)["candidates"]}
    assert listed == set(model.candidates) - streamed == {0, 1, 2, 3}
