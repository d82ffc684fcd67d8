"""Reasoning models: thinking blocks in text, the template's thinking switch, the catalog."""

from __future__ import annotations

from pathlib import Path

import pytest

from outthink.catalog import load_catalog, parse_catalog_text
from outthink.errors import CatalogError, ConfigError
from outthink.gguf_file import read_header
from outthink.prompts import Prompt, PromptFormat, build_prompt
from outthink.thinking import (
    FORCE_CLOSE,
    ThinkingSupport,
    answer_of,
    opens_thinking,
    split_thinking,
    step_parts,
    strip_tags,
    support_from_template,
)
from tests.tiny_gguf import CHAT_TEMPLATE, QWEN3_TEMPLATE, R1_TEMPLATE

# --- answers from texts that think first -------------------------------------------------------


def test_closed_block_answer_comes_from_the_solution_after_it() -> None:
    text = "<think>\nMaybe it is \\boxed{7}. Wait, 3 + 5 = 8.\n</think>\n\nSo the answer is 8."
    t = split_thinking(text)
    assert t.closed and t.blocks == 1
    assert "boxed{7}" in t.thinking and "<think>" not in t.thinking
    assert t.solution.strip() == "So the answer is 8."
    assert answer_of(text) == ("8", "solution")


def test_no_block_is_plain_extraction() -> None:
    assert answer_of("3 + 5 = 8. The answer is 8.") == ("8", "")
    t = split_thinking("3 + 5 = 8.")
    assert not t.thought and t.solution == "3 + 5 = 8."


def test_budget_exhausted_inside_the_block_falls_back_to_the_thinking() -> None:
    # The tokens ran out while thinking: no solution, the answer is read from the thoughts.
    text = "<think>\nLet me add: 3 + 5 = 8, so \\boxed{8}. Let me double-check"
    t = split_thinking(text)
    assert t.inside and not t.closed and t.solution == ""
    assert answer_of(text) == ("8", "thinking")


def test_a_closed_block_with_no_solution_says_the_answer_came_from_the_thinking() -> None:
    assert answer_of("<think>so it is 12</think>") == ("12", "thinking")
    assert answer_of("<think>no numbers here</think>") == (None, "")


def test_text_that_starts_inside_a_block_the_prompt_opened() -> None:
    # DeepSeek-R1 distills: the template writes "<think>\n", the model only closes it.
    text = "Okay, 2 + 2 = 5? No, 4.\n</think>\n\nThe answer is \\boxed{4}."
    assert answer_of(text, inside=True) == ("4", "solution")
    # Not knowing the prompt opened it, a closing tag alone still marks what came before.
    t = split_thinking(text)
    assert t.thought and "2 + 2 = 5" in t.thinking and "2 + 2" not in t.solution
    assert answer_of(text) == ("4", "solution")
    unfinished = "Okay, 2 + 2 = 4, so \\boxed{4}"
    assert answer_of(unfinished, inside=True) == ("4", "thinking")


def test_a_nested_opening_tag_does_not_swallow_the_answer() -> None:
    # A second "<think>" inside the block starts nothing: the first closing tag ends it.
    text = "<think>hmm <think> maybe 6 </think>\n\nThe answer is 7."
    t = split_thinking(text)
    assert t.closed and t.blocks == 1 and t.solution.strip() == "The answer is 7."
    assert answer_of(text) == ("7", "solution")
    # An inner pair: the text between the two closing tags was thinking too.
    text = "<think>a <think> b </think> c = 9 </think>\n\nSo \\boxed{10}."
    t = split_thinking(text)
    assert "c = 9" in t.thinking and "9" not in t.solution
    assert answer_of(text) == ("10", "solution")


def test_repeated_blocks_answer_after_the_last_one() -> None:
    text = "<think>first 5</think>Draft: 5.<think>no, 6</think>\n\nFinal answer: 6"
    t = split_thinking(text)
    assert t.blocks == 2 and t.closed
    assert t.thinking == "first 5no, 6"
    assert t.solution.strip() == "Final answer: 6"
    assert "Draft: 5." in t.visible
    assert answer_of(text) == ("6", "solution")
    # A second block that never closed: the answer stated before it still counts.
    text = "<think>a</think>The answer is 5.<think>but maybe 9"
    assert answer_of(text) == ("5", "solution")


def test_forced_close_then_answer() -> None:
    text = "<think>\nlong thoughts, 4 + 4 = 8" + FORCE_CLOSE + "The answer is 8."
    assert answer_of(text) == ("8", "solution")


def test_step_parts_follow_the_block_across_steps() -> None:
    assert step_parts("<think>\nHmm.", inside=False) == ("\nHmm.", "", True)
    assert step_parts("Still thinking.\n\n", inside=True) == ("Still thinking.\n\n", "", True)
    assert step_parts("done.</think>", inside=True) == ("done.", "", False)
    assert step_parts("\n\nx = 2", inside=False) == ("", "\n\nx = 2", False)
    assert strip_tags("<think>\na</think>\n") == "\na\n"


# --- how a model thinks --------------------------------------------------------------------------


def test_support_is_read_from_the_chat_template() -> None:
    assert support_from_template(QWEN3_TEMPLATE) == ThinkingSupport(True, "enable_thinking")
    assert support_from_template(R1_TEMPLATE) == ThinkingSupport(True, None)
    assert not support_from_template(CHAT_TEMPLATE).reasoning
    assert not support_from_template(None).reasoning
    qwen, r1 = ThinkingSupport(True, "enable_thinking"), ThinkingSupport(True, None)
    assert qwen.thinks(None) and qwen.thinks(True) and not qwen.thinks(False)
    assert r1.always and r1.thinks(False)
    assert opens_thinking("<｜Assistant｜><think>\n")
    assert not opens_thinking("<think>\n\n</think>\n\n")
    assert not opens_thinking("Use <think> tags to think. Question: 2+2?")


def _prompt(path: Path, thinking: bool | None) -> Prompt:
    template = read_header(path).chat_template
    return build_prompt(
        "What is 2+3?", PromptFormat("chat", thinking=thinking), chat_template=template,
        bos_token="<s>", source=path.name,
    )


def test_the_thinking_switch_reaches_the_template_in_the_model_file(qwen3_file: Path) -> None:
    on, off, auto = (_prompt(qwen3_file, t) for t in (True, False, None))
    assert on.text.endswith("<|im_start|>assistant\n")
    assert on.thinks and not on.thinking_open
    # Off: Qwen3's template writes an empty thinking block, so the model answers at once.
    assert off.text.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert not off.thinks
    assert auto.text == on.text  # Qwen3 thinks by default


def test_a_template_that_opens_the_block_starts_the_text_inside_it(r1_file: Path) -> None:
    prompt = _prompt(r1_file, None)
    assert prompt.text.endswith("<｜Assistant｜><think>\n")
    assert prompt.thinks and prompt.thinking_open


def test_thinking_choices_a_model_cannot_follow_are_refused(
    r1_file: Path, tiny_chat_model: Path
) -> None:
    with pytest.raises(ConfigError, match="always thinks") as off:
        _prompt(r1_file, False)
    assert "--thinking" in off.value.hint
    with pytest.raises(ConfigError, match="does not think"):
        _prompt(tiny_chat_model, True)
    with pytest.raises(ConfigError, match="does not think"):
        build_prompt("2+2?", PromptFormat("completion", thinking=True))


# --- the catalog ---------------------------------------------------------------------------------

ENTRY = """
[[models]]
id = "tiny-thinker"
name = "Tiny thinker"
role = "policy"
repo = "org/tiny-GGUF"
file = "tiny.Q8_0.gguf"
size_bytes = 1000
license = "MIT"
context_length = 2048
"""


def test_shipped_reasoning_models_say_how_they_think() -> None:
    cat = load_catalog()
    for model_id in ("qwen3-0.6b", "qwen3-1.7b", "qwen3-4b"):
        entry = cat.get(model_id)
        assert entry.reasoning and entry.thinking_switch == "enable_thinking", model_id
        assert entry.repo == f"Qwen/{entry.filename.rsplit('-', 1)[0]}-GGUF"
        assert entry.license == "Apache-2.0" and entry.sha256 is None  # the Hub says, at pull
    r1 = cat.get("deepseek-r1-distill-qwen-1.5b")
    assert r1.reasoning and r1.thinking_switch is None and r1.thinking.always
    assert r1.license == "MIT"
    bigger = cat.get("qwen2.5-7b-instruct")
    assert not bigger.reasoning and bigger.params > 7e9
    assert not cat.get("qwen2.5-1.5b-instruct").reasoning
    assert r1.to_dict()["reasoning"] is True


def test_reasoning_fields_are_validated() -> None:
    (entry,) = parse_catalog_text(
        ENTRY + 'reasoning = true\nthinking_switch = "enable_thinking"\n', source="t.toml"
    )
    assert entry.thinking == ThinkingSupport(True, "enable_thinking")
    with pytest.raises(CatalogError, match="only a reasoning model"):
        parse_catalog_text(ENTRY + 'thinking_switch = "enable_thinking"\n', source="t.toml")
    with pytest.raises(CatalogError, match="not a chat-template variable"):
        parse_catalog_text(ENTRY + 'reasoning = true\nthinking_switch = "a b"\n', source="t")
    with pytest.raises(CatalogError, match="expected a bool"):
        parse_catalog_text(ENTRY + 'reasoning = "yes"\n', source="t.toml")
