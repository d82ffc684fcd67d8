"""Fold an event stream into the summary object that ``outthink solve --json`` prints.

The same fold serves the GUI's export and the benchmark runner.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from outthink.events import (
    AnswerSelected,
    BeamKept,
    BeamPruned,
    CandidateFinished,
    Event,
    RunFailed,
    RunFinished,
    RunStarted,
    StepProposed,
    StepScored,
)


def summarize(events: Iterable[Event]) -> dict[str, Any]:
    problem = ""
    config: dict[str, Any] = {}
    cands: dict[int, dict[str, Any]] = {}
    nodes: dict[int, dict[str, Any]] = {}
    selected: AnswerSelected | None = None
    usage: dict[str, Any] = {}
    status = "running"
    error: dict[str, str] | None = None
    for ev in events:
        if isinstance(ev, RunStarted):
            problem, config = ev.problem, dict(ev.config)
        elif isinstance(ev, StepProposed):
            nodes[ev.node] = {
                "id": ev.node,
                "parent": ev.parent,
                "candidate": ev.candidate,
                "index": ev.index,
                "text": ev.text,
                "tokens": ev.tokens,
                "score": None,
                "state": "open",
            }
            c = cands.setdefault(ev.candidate, _new_candidate(ev.candidate))
            c["steps"].append({"node": ev.node, "text": ev.text, "score": None})
            c["last_node"] = ev.node
        elif isinstance(ev, StepScored):
            if ev.node in nodes:
                nodes[ev.node]["score"] = ev.score
            c = cands.setdefault(ev.candidate, _new_candidate(ev.candidate))
            for step in c["steps"]:
                if step["node"] == ev.node:
                    step["score"] = ev.score
            c["score"] = ev.aggregate
        elif isinstance(ev, BeamKept | BeamPruned):
            if ev.node in nodes:
                nodes[ev.node]["state"] = "kept" if isinstance(ev, BeamKept) else "pruned"
            if isinstance(ev, BeamPruned):
                cands.setdefault(ev.candidate, _new_candidate(ev.candidate))["pruned"] = True
        elif isinstance(ev, CandidateFinished):
            c = cands.setdefault(ev.candidate, _new_candidate(ev.candidate))
            c["answer"], c["finished"], c["finish_reason"] = ev.answer, True, ev.reason
            if ev.score is not None:
                c["score"] = ev.score
            if ev.node is not None and ev.node in nodes:
                nodes[ev.node]["state"] = "finished"
        elif isinstance(ev, AnswerSelected):
            selected = ev
        elif isinstance(ev, RunFinished):
            usage, status = dict(ev.usage), "cancelled" if ev.cancelled else "finished"
        elif isinstance(ev, RunFailed):
            usage, status = dict(ev.usage), "failed"
            error = {"error": ev.error, "hint": ev.hint}
    for c in cands.values():
        # A beam's own steps start where its parent's ended: its solution is the whole chain.
        first = c["steps"][0]["node"] if c["steps"] else None
        inherited = _chain(nodes, nodes[first]["parent"]) if first in nodes else []
        c["inherited_steps"] = len(inherited)
        c["text"] = "".join(inherited) + "".join(s["text"] for s in c["steps"])
        c["selected"] = selected is not None and selected.candidate == c["id"]
        c.pop("last_node", None)
    out: dict[str, Any] = {
        "problem": problem,
        "answer": selected.answer if selected else None,
        "strategy": config.get("strategy"),
        "policy": config.get("policy"),
        "verifier": config.get("verifier"),
        "n": config.get("n"),
        "status": status,
        "selection": None
        if selected is None
        else {
            "candidate": selected.candidate,
            "rule": selected.rule,
            "votes": dict(selected.votes),
            "group_scores": dict(selected.group_scores),
            "reason": selected.reason,
        },
        "candidates": [cands[k] for k in sorted(cands)],
        "usage": usage,
        "tree": {"nodes": [nodes[k] for k in sorted(nodes)]},
        "config": config,
    }
    if error:
        out["error"] = error
    return out


def _chain(nodes: dict[int, dict[str, Any]], node: int | None) -> list[str]:
    """Texts of the steps from the root down to ``node``."""
    texts: list[str] = []
    while node is not None and node in nodes:
        texts.append(nodes[node]["text"])
        node = nodes[node]["parent"]
    return texts[::-1]


def _new_candidate(cid: int) -> dict[str, Any]:
    return {
        "id": cid,
        "text": "",
        "answer": None,
        "score": None,
        "selected": False,
        "finished": False,
        "finish_reason": None,
        "pruned": False,
        "steps": [],
    }
