"""The summary object that ``outthink solve --json`` prints, read off the run's model.

:class:`~outthink.search.runmodel.RunModel` is the one fold of the event stream (the GUI's
view state extends the same model); this only lays it out as JSON.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from outthink.events import Event
from outthink.search.runmodel import CandidateInfo, NodeInfo, RunModel


def summarize(events: Iterable[Event]) -> dict[str, Any]:
    return summary_of(RunModel.of(events))


def summary_of(run: RunModel) -> dict[str, Any]:
    sel = run.selection
    config = dict(run.config)
    out: dict[str, Any] = {
        "problem": run.problem,
        "answer": sel.answer if sel else None,
        "strategy": config.get("strategy"),
        "policy": config.get("policy"),
        "verifier": config.get("verifier"),
        "n": config.get("n"),
        # A stream cut before its RunStarted is still a run that goes on.
        "status": "running" if run.status == "idle" else run.status,
        "selection": None
        if sel is None
        else {
            "candidate": sel.candidate,
            "rule": sel.rule,
            "votes": dict(sel.votes),
            "group_scores": dict(sel.group_scores),
            "reason": sel.reason,
        },
        "candidates": [
            _candidate(run, run.candidates[k]) for k in sorted(run.candidates)
            if run.candidates[k].reported
        ],
        "usage": dict(run.usage),
        "tree": {"nodes": [_node(run.nodes[k]) for k in sorted(run.nodes)]},
        "config": config,
    }
    chosen = run.candidates.get(sel.candidate) if sel and sel.candidate is not None else None
    if chosen is not None and chosen.answer_source:
        out["answer_source"] = chosen.answer_source
        if chosen.answer_source == "thinking":
            out["note"] = ANSWER_FROM_THINKING
    if run.reference is not None:  # graded against a reference answer
        out["reference"] = run.reference
        out["correct"] = run.chosen_correct()
    if run.error is not None:
        out["error"] = {"error": run.error[0], "hint": run.error[1]}
    return out


def _candidate(run: RunModel, cand: CandidateInfo) -> dict[str, Any]:
    own, inherited = run.own_steps(cand.id), run.inherited(cand.id)
    out = {
        "id": cand.id,
        # A beam's own steps start where its parent's ended: its solution is the whole chain.
        "text": "".join(n.text for n in inherited) + "".join(n.text for n in own),
        "answer": cand.answer,
        "score": cand.aggregate,
        "selected": cand.selected,
        "finished": cand.finished,
        "finish_reason": cand.reason if cand.finished else None,
        "pruned": cand.pruned,
        "steps": [_step(n) for n in own],
        "inherited_steps": len(inherited),
    }
    if cand.correct is not None:
        out["correct"] = cand.correct
    thought = run.thinking_of(cand.id)
    if thought is not None:
        out["thinking"] = {
            "tokens": thought.tokens,
            "seconds": round(thought.seconds, 3),
            "blocks": thought.blocks,
            "finished": not (thought.open or thought.unfinished),
            "closed_by_budget": thought.budget,
        }
    if cand.answer_source:
        out["answer_source"] = cand.answer_source
    return out


#: What the summary says when an answer came from inside the thinking.
ANSWER_FROM_THINKING = (
    "The answer was taken from inside the model's thinking: it wrote no solution after it "
    "(most often the tokens ran out while it was thinking; raise --max-tokens or set a "
    "--thinking-budget)."
)


def _step(node: NodeInfo) -> dict[str, Any]:
    step: dict[str, Any] = {"node": node.node, "text": node.text, "score": node.score}
    if not node.checked:
        step["checked"] = False  # nothing to check: the score is the verifier's neutral value
    if node.thinking:
        step["thinking"] = True
    return step


def _node(node: NodeInfo) -> dict[str, Any]:
    return {
        "id": node.node,
        "parent": node.parent,
        "candidate": node.candidate,
        "index": node.index,
        "text": node.text,
        "tokens": node.tokens,
        "score": node.score,
        "state": node.state,
    }
