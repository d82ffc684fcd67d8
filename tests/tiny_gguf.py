"""Write tiny random llama-architecture GGUF models for fast engine tests.

The model is noise (random f32 weights) but real llama.cpp loads it in milliseconds: it tests
plumbing, positions, forks and token ids, never quality. Vocabulary: SentencePiece-style with
unknown/BOS/EOS, the 256 byte tokens, and word pieces that verifier tests look up.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

WORD_PIECES = [
    "+", "-", "▁+", "▁-", "Yes", "No", "▁Yes", "▁No", "ки", "▁ки", "=", "▁=",
    "▁the", "▁answer", "▁is", "▁a", "▁b", "▁c", "Step", "▁Step", ":", ".", ",",
    "<|user|>", "<|assistant|>", "<|end|>",
] + [str(d) for d in range(10)] + [f"▁{d}" for d in range(10)] + ["Ye"]
SPECIAL_PIECES = {"<|user|>", "<|assistant|>", "<|end|>"}
N_VOCAB = 512

#: Pieces a reasoning model's vocabulary has as tokens of their own (``think_tokens=True``).
THINK_PIECES = ["<think>", "</think>"]

#: Qwen3's chat template in short: its generation prompt and its thinking switch are Qwen3's
#: own (``enable_thinking`` false writes an empty thinking block into the prompt).
QWEN3_TEMPLATE = (
    "{% for m in messages %}"
    "{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
    "{% if enable_thinking is defined and enable_thinking is false %}"
    "{{ '<think>\\n\\n</think>\\n\\n' }}{% endif %}{% endif %}"
)

#: DeepSeek-R1 distills' chat template in short: the generation prompt opens the thinking
#: block, so the model's text starts inside it (no switch).
R1_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}"
    "{% if m['role'] == 'user' %}{{ '<｜User｜>' + m['content'] }}"
    "{% elif m['role'] == 'assistant' %}{{ '<｜Assistant｜>' + m['content'] }}"
    "{% else %}{{ m['content'] }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<｜Assistant｜><think>\\n' }}{% endif %}"
)

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}"
    "{% if m['role'] == 'user' %}<|user|>{{ m['content'] }}<|end|>"
    "{% elif m['role'] == 'assistant' %}<|assistant|>{{ m['content'] }}<|end|>"
    "{% else %}{{ m['content'] }}\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def write_tiny_model(
    path: Path,
    *,
    seed: int = 0,
    arch: str = "llama",
    chat_template: str | None = None,
    n_embd: int = 64,
    n_layer: int = 2,
    context_length: int = 1024,
    think_tokens: bool = False,
) -> Path:
    """``context_length``: the trained context written to the header (runs whose prompt plus
    max tokens exceed it are refused). ``think_tokens``: ``<think>`` and ``</think>`` are
    tokens of their own, as in a reasoning model's vocabulary (user-defined: shown in text)."""
    import gguf

    rng = np.random.default_rng(seed)
    tokens: list[str] = ["<unk>", "<s>", "</s>"]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    for b in range(256):
        tokens.append(f"<0x{b:02X}>")
        types.append(gguf.TokenType.BYTE)
    for piece in WORD_PIECES:
        tokens.append(piece)
        types.append(
            gguf.TokenType.CONTROL if piece in SPECIAL_PIECES else gguf.TokenType.NORMAL
        )
    for piece in THINK_PIECES if think_tokens else ():
        tokens.append(piece)
        types.append(gguf.TokenType.USER_DEFINED)
    while len(tokens) < N_VOCAB:
        tokens.append(f"<pad{len(tokens)}>")
        types.append(gguf.TokenType.UNUSED)
    scores = [0.0] * 3 + [-1000.0] * 256 + [-float(i) for i in range(len(tokens) - 259)]

    w = gguf.GGUFWriter(str(path), arch)
    w.add_name("tiny-test")
    w.add_context_length(context_length)
    w.add_embedding_length(n_embd)
    w.add_block_count(n_layer)
    w.add_feed_forward_length(n_embd * 2)
    w.add_head_count(4)
    w.add_head_count_kv(4)
    w.add_rope_dimension_count(n_embd // 4)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(0)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_add_bos_token(True)
    if chat_template:
        w.add_chat_template(chat_template)

    def t(name: str, *shape: int, scale: float = 0.5) -> None:
        w.add_tensor(name, (rng.standard_normal(shape) * scale).astype(np.float32))

    t("token_embd.weight", N_VOCAB, n_embd)
    w.add_tensor("output_norm.weight", np.ones(n_embd, dtype=np.float32))
    t("output.weight", N_VOCAB, n_embd)
    for i in range(n_layer):
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(n_embd, dtype=np.float32))
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            t(f"blk.{i}.{name}.weight", n_embd, n_embd, scale=0.2)
        w.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(n_embd, dtype=np.float32))
        t(f"blk.{i}.ffn_gate.weight", n_embd * 2, n_embd, scale=0.2)
        t(f"blk.{i}.ffn_up.weight", n_embd * 2, n_embd, scale=0.2)
        t(f"blk.{i}.ffn_down.weight", n_embd, n_embd * 2, scale=0.2)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
