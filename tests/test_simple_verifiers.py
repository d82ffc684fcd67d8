"""The model-free verifiers (none, self-certainty) and the product verifier."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pytest

from outthink.errors import ConfigError
from outthink.verifiers import VERIFIERS, StepRecord, VerifierContext, get_spec
from outthink.verifiers.base import StatelessSession
from outthink.verifiers.combined import CombinedVerifier, Part, weighted_product
from outthink.verifiers.simple import SelfCertaintyVerifier, self_certainty


def build(kind: str, options: Mapping[str, Any] | None = None) -> Any:
    return get_spec(kind).factory(options or {}, VerifierContext())


def test_builtin_kinds_are_registered_on_import() -> None:
    assert {"none", "self-certainty", "calculator", "product"} <= set(VERIFIERS)


def test_unknown_kind_lists_known_ones() -> None:
    with pytest.raises(ConfigError) as info:
        get_spec("oracle")
    assert "self-certainty" in info.value.hint


# --- none -----------------------------------------------------------------------------------


def test_none_is_neutral_and_not_informative() -> None:
    verifier = build("none")
    assert verifier.informative is False
    session = verifier.open("p")
    session.add(0)
    session.add(1)
    scores = session.score({0: StepRecord("2 + 2 = 5", logprobs=(-9.0,)), 1: StepRecord("ok")})
    assert scores == {0: 0.5, 1: 0.5}
    assert session.tokens_decoded == 0


def test_none_rejects_options() -> None:
    with pytest.raises(ConfigError):
        build("none", {"weight": 1})


# --- self-certainty -------------------------------------------------------------------------


def test_self_certainty_is_geometric_mean_probability() -> None:
    assert self_certainty((math.log(0.5), math.log(0.125))) == pytest.approx(0.25)
    assert self_certainty((0.0, 0.0)) == 1.0
    assert self_certainty((1e-9,)) == 1.0  # clamped to [0, 1]
    assert self_certainty((-math.inf, 0.0)) == 0.0
    assert self_certainty(()) == 0.5
    assert self_certainty((math.nan,), empty=0.3) == 0.3


def test_self_certainty_orders_confident_steps_higher() -> None:
    verifier = build("self-certainty")
    assert verifier.informative is True
    session = verifier.open("p")
    for cand in (0, 1, 2):
        session.add(cand)
    scores = session.score(
        {
            0: StepRecord("sure", tokens=(1, 2, 3), logprobs=(-0.01, -0.05, -0.02)),
            1: StepRecord("unsure", tokens=(4, 5, 6), logprobs=(-1.5, -0.7, -2.0)),
            2: StepRecord("no logprobs", tokens=(7,)),
        }
    )
    assert 1.0 >= scores[0] > scores[2] > scores[1] > 0.0
    assert scores[2] == 0.5


def test_self_certainty_empty_option() -> None:
    verifier = build("self-certainty", {"empty": 0.2})
    assert isinstance(verifier, SelfCertaintyVerifier)
    session = verifier.open("p")
    session.add(0)
    assert session.score({0: StepRecord("x")}) == {0: 0.2}
    with pytest.raises(ConfigError):
        build("self-certainty", {"empty": -1})


# --- sessions: add, fork, drop (StatelessSession) -------------------------------------------


class _Recorder(StatelessSession):
    """Scores a step by how many steps its candidate has seen, counting inherited ones."""

    def score_step(self, candidate: int, step: StepRecord) -> float:
        return len(self.history[candidate]) / 10


def test_session_fork_copies_history_and_drop_forgets() -> None:
    session = _Recorder("p")
    session.add(0)
    assert session.score({0: StepRecord("a")}) == {0: 0.1}
    session.add(1, parent=0)  # fork: candidate 1 continues candidate 0
    assert session.score({0: StepRecord("b"), 1: StepRecord("c")}) == {0: 0.2, 1: 0.2}
    assert [s.text for s in session.history[1]] == ["a", "c"]
    assert [s.text for s in session.history[0]] == ["a", "b"]  # the fork did not alias
    session.drop(0)
    assert 0 not in session.history
    session.add(0)  # an id may be reused: it starts empty
    assert session.score({0: StepRecord("d")}) == {0: 0.1}
    session.close()
    assert session.history == {}


# --- product --------------------------------------------------------------------------------


class _FixedSession(StatelessSession):
    def __init__(self, problem: str, score: float, tokens: int, log: list[str]) -> None:
        super().__init__(problem)
        self.fixed, self.tokens, self.log = score, tokens, log

    def add(self, candidate: int, parent: int | None = None) -> None:
        self.log.append(f"add {candidate} {parent}")
        super().add(candidate, parent)

    def drop(self, candidate: int) -> None:
        self.log.append(f"drop {candidate}")
        super().drop(candidate)

    def score_step(self, candidate: int, step: StepRecord) -> float:
        return self.fixed

    @property
    def tokens_decoded(self) -> int:
        return self.tokens * sum(len(h) for h in self.history.values())

    def close(self) -> None:
        self.log.append("close")
        super().close()


class _Fixed:
    def __init__(self, score: float, tokens: int = 0, informative: bool = True) -> None:
        self.name = f"fixed-{score}"
        self.informative = informative
        self.score, self.tokens = score, tokens
        self.log: list[str] = []

    def open(self, problem: str) -> _FixedSession:
        return _FixedSession(problem, self.score, self.tokens, self.log)


def test_weighted_product_math() -> None:
    assert weighted_product([0.5, 0.8], [1.0, 1.0]) == pytest.approx(0.4)
    assert weighted_product([0.25, 0.9], [0.5, 2.0]) == pytest.approx(0.5 * 0.81)
    assert weighted_product([0.0, 0.7], [0.0, 1.0]) == pytest.approx(0.7)  # weight 0: ignored
    assert weighted_product([1.5, -0.1], [1.0, 0.0]) == 1.0  # clamped, then 0 ** 0 = 1


def test_product_session_forwards_and_multiplies() -> None:
    a, b = _Fixed(0.5, tokens=3), _Fixed(0.25, tokens=10)
    verifier = CombinedVerifier([Part(a, 1.0), Part(b, 0.5)])
    session = verifier.open("p")
    session.add(0)
    session.add(1, parent=0)
    scores = session.score({0: StepRecord("s"), 1: StepRecord("t")})
    assert scores == {0: pytest.approx(0.25), 1: pytest.approx(0.25)}  # 0.5 * 0.25 ** 0.5
    assert session.tokens_decoded == 2 * 3 + 2 * 10
    session.drop(1)
    session.close()
    for part in (a, b):
        assert part.log == ["add 0 None", "add 1 0", "drop 1", "close"]


def test_product_informative_only_through_weighted_informative_parts() -> None:
    assert not CombinedVerifier([Part(_Fixed(0.5, informative=False))]).informative
    assert not CombinedVerifier([Part(_Fixed(0.5), 0.0)]).informative
    assert CombinedVerifier([Part(_Fixed(0.5), 1.0), Part(build("none"))]).informative


def test_product_from_options_builds_parts_through_registry() -> None:
    verifier = build(
        "product",
        {
            "parts": [
                {"kind": "self-certainty", "weight": 2},
                {"kind": "calculator", "options": {"neutral": 1.0, "true_score": 1.0}},
            ]
        },
    )
    session = verifier.open("p")
    session.add(0)
    session.add(1)
    logprobs = (math.log(0.8),)
    scores = session.score(
        {
            0: StepRecord("3 * 6 = 18", logprobs=logprobs),
            1: StepRecord("3 * 6 = 20", logprobs=logprobs),
        }
    )
    assert scores[0] == pytest.approx(0.8**2)
    assert scores[1] == pytest.approx(0.8**2 * 0.05)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"parts": []},
        {"parts": "calculator"},
        {"parts": [{"weight": 1.0}]},
        {"parts": [{"kind": "calculator", "weight": -1}]},
        {"parts": [{"kind": "calculator", "options": "neutral=1"}]},
        {"parts": [{"kind": "calculator", "wieght": 1}]},
        {"parts": [{"kind": "oracle"}]},
        {"parts": [{"kind": "none"}], "mode": "sum"},
    ],
)
def test_product_bad_options(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        build("product", options)
