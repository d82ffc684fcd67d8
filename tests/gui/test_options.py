"""What the control panel offers comes from the registries and the catalog."""

from __future__ import annotations

from outthink.config import Settings
from outthink.gui import options
from outthink.search.strategies import strategy_names
from outthink.starter import STARTER_ID
from outthink.verifiers import VERIFIERS


def test_strategies_come_from_the_registry() -> None:
    choices = options.strategy_choices()
    assert [c.name for c in choices] == strategy_names()
    assert all(c.description for c in choices)


def test_fixed_fields_are_found_by_asking_the_strategy() -> None:
    assert options.fixed_fields("greedy") == {"n": 1, "temperature": 0.0, "select": "vanilla"}
    assert options.fixed_fields("best-of-n") == {}
    assert options.fixed_fields("no-such-strategy") == {}


def test_defaults_per_strategy_fall_back_to_the_core() -> None:
    assert options.defaults_for("best-of-n")["n"] == 8
    unknown = options.defaults_for("someday-strategy")
    assert unknown["n"] == 8 and unknown["max_tokens"] == 384  # SearchConfig's defaults
    if "beam" in strategy_names():
        assert options.defaults_for("beam")["n"] % options.defaults_for("beam")["width"] == 0


def test_policy_picker_puts_the_starter_first() -> None:
    choices = options.policy_choices(Settings())
    assert choices[0].spec == STARTER_ID and choices[0].installed
    installed = [c.installed for c in choices]
    assert installed == sorted(installed, reverse=True)  # installed first
    assert all(not c.enabled for c in choices if not c.installed)


def test_verifier_picker_lists_usable_kinds_then_models() -> None:
    choices = options.verifier_choices(Settings())
    kinds = [c.spec for c in choices if c.spec in VERIFIERS]
    assert "self-certainty" in kinds and "none" in kinds
    # "product" needs parts the panel cannot give: not offered.
    assert "product" not in kinds
    models = [c for c in choices if c.spec not in VERIFIERS]
    assert models, "catalog verifier entries are listed"
    assert all(not c.enabled for c in models if not c.installed)


def test_examples_ship_with_answers() -> None:
    examples = options.load_examples()
    assert len(examples) >= 10
    assert all(e["id"] and e["problem"] and e["answer"] for e in examples)
    assert len({e["id"] for e in examples}) == len(examples)
