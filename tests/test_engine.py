"""The llama.cpp engine against real llama.cpp, on tiny random GGUF models."""

from __future__ import annotations

import struct
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from outthink.engine import (
    Context,
    LlamaGenerator,
    Model,
    check_memory,
    check_model_file,
    plan_context,
    top_candidates,
)
from outthink.errors import (
    Cancelled,
    EngineError,
    MemoryBudgetError,
    ModelCorruptError,
    ModelMissingError,
    ModelUnsupportedError,
)
from outthink.generation import CancelToken, SamplingParams, run_to_completion
from outthink.gguf_file import read_header
from outthink.llama_archs import SUPPORTED_ARCHITECTURES
from tests.tiny_gguf import write_tiny_model

RANDOM = SamplingParams(temperature=1.0, top_p=1.0, top_k=0, min_p=0.0, max_tokens=24, stop=())


@pytest.fixture(scope="module")
def model(tiny_model: Path):
    m = Model(tiny_model)
    yield m
    m.close()


def make_gen(model: Model, n: int = 8, **kw) -> LlamaGenerator:
    return LlamaGenerator(model, n_ctx=plan_context(64, n, 64), n_seq_max=n, threads=2, **kw)


# ---------------------------------------------------------------- bad model files


def test_missing_file_is_typed(tmp_path: Path) -> None:
    with pytest.raises(ModelMissingError) as info:
        Model(tmp_path / "nope.gguf")
    assert "not found" in str(info.value) and info.value.hint


def test_non_gguf_file_is_typed(tmp_path: Path) -> None:
    bad = tmp_path / "notes.gguf"
    bad.write_text("hello, I am not a model\n" * 10)
    with pytest.raises(ModelCorruptError) as info:
        Model(bad)
    assert "not a GGUF" in info.value.message


@pytest.mark.parametrize("keep", [0.5, 0.02, 6])
def test_truncated_file_is_typed(tiny_model: Path, tmp_path: Path, keep: float) -> None:
    data = tiny_model.read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(data[: int(len(data) * keep)] if keep < 1 else data[: int(keep)])
    with pytest.raises(ModelCorruptError) as info:
        Model(cut)
    assert "truncated" in info.value.message or "not a GGUF" in info.value.message


def test_long_string_arrays_are_stepped_over_exactly(tmp_path: Path) -> None:
    """A vocabulary-sized string array is skipped without decoding; what follows it is read
    right, and a file cut inside the array is reported as truncated."""
    import gguf

    path = tmp_path / "vocab.gguf"
    words = [f"tok{i}-" + "é" * (i % 7) for i in range(20_000)]
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_array("tokenizer.ggml.tokens", words)
    w.add_string("tokenizer.chat_template", "{{ messages }}")
    w.add_uint32("llama.block_count", 3)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    header = read_header(path)
    assert header.vocab_size == 20_000
    assert header.metadata["tokenizer.ggml.tokens"] is None  # counted, not kept
    assert header.chat_template == "{{ messages }}"
    assert header.arch_value("block_count") == 3
    data = path.read_bytes()
    cut = tmp_path / "cut-vocab.gguf"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelCorruptError) as info:
        read_header(cut)
    assert "truncated" in info.value.message


def test_truncated_tensor_data_reports_missing_bytes(tiny_model: Path, tmp_path: Path) -> None:
    data = tiny_model.read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(data[:-1000])
    with pytest.raises(ModelCorruptError, match="1,000 missing"):
        check_model_file(cut)


def test_unsupported_version_is_typed(tiny_model: Path, tmp_path: Path) -> None:
    data = bytearray(tiny_model.read_bytes())
    data[4:8] = struct.pack("<I", 99)
    odd = tmp_path / "v99.gguf"
    odd.write_bytes(bytes(data))
    with pytest.raises(ModelUnsupportedError, match="version 99"):
        Model(odd)


def test_unknown_architecture_is_refused_before_llama_cpp(tmp_path: Path) -> None:
    path = write_tiny_model(tmp_path / "alien.gguf", arch="alienformer")
    with pytest.raises(ModelUnsupportedError) as info:
        Model(path)
    assert "alienformer" in info.value.message and info.value.hint


def test_architecture_list_matches_the_native_library() -> None:
    import llama_cpp

    lib = Path(llama_cpp.__file__).parent / "lib"
    blob = b"".join(p.read_bytes() for p in lib.glob("libllama*"))
    # the linker may store "bert" as the tail of "nomic-bert", so match name + NUL only
    missing = [a for a in SUPPORTED_ARCHITECTURES if a.encode() + b"\0" not in blob]
    assert not missing, f"names not in the installed llama.cpp: {missing}"


def test_header_reads_metadata(tiny_chat_model: Path) -> None:
    h = read_header(tiny_chat_model)
    assert h.architecture == "llama"
    assert h.vocab_size == 512
    assert h.chat_template and "<|assistant|>" in h.chat_template
    assert h.kv_bytes_per_token() == 2 * 4 * (16 + 16) * 2


def test_memory_refusal_names_the_numbers(tiny_model: Path) -> None:
    header = check_model_file(tiny_model)
    with pytest.raises(MemoryBudgetError) as info:
        check_memory(header, n_ctx=10**12, n_seq=256)
    msg = str(info.value)
    assert "GiB" in msg and "Lower the budget N" in msg


# ---------------------------------------------------------------- generation


def test_prompt_is_decoded_once_whatever_n(model: Model) -> None:
    prompt = "the answer is a b c " * 3
    n_prompt = len(model.tokenize(prompt, add_special=True))
    for n in (1, 4, 16):
        with make_gen(model, n) as gen:
            ids = gen.start(prompt, n, RANDOM)
            assert len(ids) == n == len(set(ids))
            assert gen.usage.prompt_tokens == n_prompt
            assert gen.ctx.stats.tokens == n_prompt
            outs = run_to_completion(gen.extend(ids))
            generated = sum(len(o.tokens) for o in outs)
            # each sampled token is decoded once, except each sequence's last one
            assert gen.ctx.stats.tokens == n_prompt + generated - n
            assert gen.usage.prompt_tokens == n_prompt


def test_one_decode_call_per_token_step(model: Model) -> None:
    with make_gen(model, 8) as gen:
        ids = gen.start("a b c", 8, RANDOM)
        calls0 = gen.ctx.stats.calls
        outs = run_to_completion(gen.extend(ids))
        longest = max(len(o.tokens) for o in outs)
        assert gen.ctx.stats.calls - calls0 == longest - 1


def _texts(model: Model, seed: int, n: int = 4) -> list[str]:
    with make_gen(model, n) as gen:
        ids = gen.start("the answer is", n, RANDOM.with_seed(seed))
        return [o.text for o in run_to_completion(gen.extend(ids))]


def test_distinct_seeds_distinct_sequences_and_same_seed_same_sequences(model: Model) -> None:
    a = _texts(model, seed=7)
    b = _texts(model, seed=7)
    c = _texts(model, seed=8)
    assert a == b
    assert len(set(a)) == len(a), "sequences with different seeds should differ"
    assert a != c


def test_stop_delimiter_ends_exactly_one_sequence(model: Model) -> None:
    base = RANDOM.with_seed(3)
    with make_gen(model, 4) as gen:
        ids = gen.start("the answer is", 4, base)
        texts = [o.text for o in run_to_completion(gen.extend(ids))]
    # find a 3-character piece that only sequence k wrote, after some visible text
    for k, text in enumerate(texts):
        others = [t for j, t in enumerate(texts) if j != k]
        for i in range(2, len(text) - 3):
            piece = text[i : i + 3]
            if (
                piece.strip() == piece
                and piece.isascii()
                and piece.isprintable()
                and text[:i].strip()
                and all(piece not in o for o in others)
            ):
                break
        else:
            continue
        break
    else:
        pytest.fail("no unique piece found to use as a delimiter")
    with make_gen(model, 4) as gen:
        ids = gen.start("the answer is", 4, SamplingParams(**{**_as_dict(base), "stop": (piece,)}))
        outs = run_to_completion(gen.extend(ids))
    stops = [o.stop for o in outs]
    assert stops.count("delimiter") == 1 and stops[k] == "delimiter", (piece, stops)
    assert piece in outs[k].text and texts[k].startswith(outs[k].text)
    assert all(o.stop == "length" for j, o in enumerate(outs) if j != k)


def _as_dict(p: SamplingParams) -> dict:
    return {f: getattr(p, f) for f in p.__dataclass_fields__}


def test_logprobs_are_kept_per_token(model: Model) -> None:
    with make_gen(model, 2) as gen:
        ids = gen.start("a b", 2, RANDOM)
        for out in run_to_completion(gen.extend(ids)):
            assert len(out.logprobs) == len(out.tokens) > 0
            assert all(lp <= 1e-6 for lp in out.logprobs)
            assert any(lp < -0.01 for lp in out.logprobs)


def test_continue_fork_drop_and_recycle(model: Model) -> None:
    step = SamplingParams(
        temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, max_tokens=40, stop=(), step_tokens=6
    )
    with make_gen(model, 4) as gen:
        (root,) = gen.start("a b c", 1, step)
        decoded0 = gen.ctx.stats.tokens
        out1 = run_to_completion(gen.extend([root]))[0]
        assert out1.stop == "step_limit" and not out1.finished and len(out1.tokens) == 6
        # the first step's last token waits, undecoded, for the continuation
        assert gen.ctx.stats.tokens - decoded0 == 5
        prefix = gen.text(root)
        child = gen.fork(root)
        assert child != root and gen.text(child) == prefix
        decoded1 = gen.ctx.stats.tokens
        outs = run_to_completion(gen.extend([root, child]))
        assert gen.text(root) == prefix + outs[0].text
        assert gen.text(child) == prefix + outs[1].text
        assert outs[0].text != outs[1].text
        # the shared prefix is not decoded again: the pending token once per sequence,
        # then the new tokens but the last of each
        assert gen.ctx.stats.tokens - decoded1 == 2 + sum(len(o.tokens) - 1 for o in outs)
        gen.drop(child)
        assert gen.fork(root) == child, "dropped ids are recycled"
        # run to the end: the total limit finishes the sequence for good
        while not (out := run_to_completion(gen.extend([root]))[0]).finished:
            pass
        assert out.stop == "length" and out.total_tokens == 40
        with pytest.raises(EngineError):
            run_to_completion(gen.extend([root]))


def test_forks_with_different_seeds_diverge(model: Model) -> None:
    with make_gen(model, 3) as gen:
        (root,) = gen.start("the", 1, RANDOM)
        a = gen.fork(root)
        b = gen.fork(root)
        outs = run_to_completion(gen.extend([a, b]))
        assert outs[0].text != outs[1].text


def test_cancel_takes_effect_before_the_next_decode(model: Model) -> None:
    cancel = CancelToken()
    with make_gen(model, 4, cancel=cancel) as gen:
        ids = gen.start("a b c", 4, RANDOM)
        it = gen.extend(ids)
        next(it)
        calls = gen.ctx.stats.calls
        cancel.cancel()
        with pytest.raises(Cancelled):
            next(it)
        assert gen.ctx.stats.calls == calls


def test_cancel_from_another_thread(model: Model) -> None:
    cancel = CancelToken()
    long = SamplingParams(temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, max_tokens=400, stop=())
    with LlamaGenerator(model, n_ctx=plan_context(16, 4, 400), n_seq_max=4, cancel=cancel) as gen:
        ids = gen.start("a", 4, long)
        timer = threading.Timer(0.05, cancel.cancel)
        t0 = time.perf_counter()
        timer.start()
        with pytest.raises(Cancelled):
            run_to_completion(gen.extend(ids))
        assert time.perf_counter() - t0 < 5
        assert gen.usage.generated_tokens < 4 * 400


def test_long_prefill_is_chunked_and_cancellable(model: Model) -> None:
    prompt = "a b c the answer is " * 20
    n_prompt = len(model.tokenize(prompt, add_special=True))
    assert n_prompt > 64
    with LlamaGenerator(model, n_ctx=plan_context(n_prompt, 2, 8), n_seq_max=2, n_batch=32) as gen:
        gen.start(prompt, 2, RANDOM)
        assert gen.ctx.stats.calls == -(-n_prompt // 32)
        assert gen.usage.prompt_tokens == n_prompt
    cancel = CancelToken()
    cancel.cancel()
    with (
        LlamaGenerator(
            model, n_ctx=plan_context(n_prompt, 2, 8), n_seq_max=2, n_batch=32, cancel=cancel
        ) as gen,
        pytest.raises(Cancelled),
    ):
        gen.start(prompt, 2, RANDOM)


def test_context_refuses_too_many_sequences(model: Model) -> None:
    with pytest.raises(EngineError, match="1 to 256"):
        Context(model, n_ctx=512, n_seq_max=300)
    with make_gen(model, 2) as gen, pytest.raises(EngineError, match="Lower the budget"):
        gen.start("a", 3, RANDOM)


def test_full_context_is_an_error_not_a_crash(model: Model) -> None:
    long = SamplingParams(
        temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, max_tokens=10_000, stop=()
    )
    with LlamaGenerator(model, n_ctx=256, n_seq_max=4) as gen:
        ids = gen.start("a b", 4, long)
        with pytest.raises(EngineError, match="is full"):
            run_to_completion(gen.extend(ids))


def test_chat_template_comes_from_the_gguf(tiny_chat_model: Path) -> None:
    from outthink.prompts import PromptFormat, build_prompt

    with Model(tiny_chat_model) as m:
        assert m.chat_template
        p = build_prompt(
            "What is 2+3?",
            PromptFormat("chat", "Be brief."),
            chat_template=m.chat_template,
            bos_token=m.bos_text,
            eos_token=m.eos_text,
        )
        assert p.text.startswith("<s>") and p.has_bos
        assert "<|user|>" in p.text and p.text.endswith("<|assistant|>")
        ids = m.tokenize(p.text, add_special=False)
        assert ids[0] == m.bos and m.single_token("<|assistant|>") == ids[-1]


@pytest.mark.parametrize(
    "params",
    [
        SamplingParams(temperature=0.8, top_k=40, top_p=0.95, min_p=0.05, seed=11),
        SamplingParams(temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, seed=12),
        SamplingParams(temperature=0.0, seed=13),
        SamplingParams(temperature=0.7, top_k=5, top_p=0.9, min_p=0.0, seed=14),
        SamplingParams(temperature=0.9, top_k=300, top_p=0.99, min_p=0.0, seed=15),
    ],
)
def test_sampling_matches_llama_cpp_and_logprobs_are_exact(model: Model, params) -> None:
    """The draws are the ones a fresh llama.cpp chain with the same seed makes, and the
    log-probability is the raw model's, whichever way its normaliser was computed."""
    import llama_cpp

    from outthink.engine import _new_chain

    with make_gen(model, 1) as gen:
        (sid,) = gen.start("the answer is a b c", 1, params)
        reference = _new_chain(params)
        try:
            for _ in range(40):
                seq = gen._seqs[sid]
                expected = llama_cpp.llama_sampler_sample(reference, gen.ctx.ptr, seq.logits_index)
                ((token, logprob),) = gen._sample_all([seq])
                assert token == expected
                row = gen.ctx.logits(seq.logits_index).astype("float64")
                exact_lse = row.max() + np.log(np.exp(row - row.max()).sum())
                assert logprob == pytest.approx(row[token] - exact_lse, abs=1e-4)
                gen.ctx.decode([token], [seq.n_past], [sid], [True])
                seq.n_past += 1
                seq.logits_index = 0
        finally:
            llama_cpp.llama_sampler_free(reference)


@pytest.mark.parametrize("v", [512, 1000, 4096 * 16, 4096 * 16 + 37, 151_936])
@pytest.mark.parametrize("k", [1, 5, 40, 256])
def test_top_candidates_are_exactly_the_k_largest(v: int, k: int) -> None:
    rng = np.random.default_rng(v * 1000 + k)
    rows = rng.normal(size=(3, v)).astype(np.float32)
    rows[1, rng.integers(0, v, size=k)] += 30.0  # a peaked row
    rows[2, -3:] = 100.0  # the largest tokens in the tail past the last full group
    ids, vals = top_candidates(rows, k)
    assert ids.shape == vals.shape == (3, k)
    for r in range(3):
        assert len(set(ids[r].tolist())) == k
        assert np.array_equal(rows[r, ids[r]], vals[r])
        assert np.sort(vals[r])[0] >= np.sort(rows[r])[-k]  # nothing larger was left out


@pytest.mark.parametrize("top_k", [5, 40])
def test_batched_draws_equal_whole_vocabulary_draws(
    model: Model, top_k: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many sequences drawn from precomputed top-k candidates (log-normalisers partly on the
    helper thread) give exactly the tokens and log-probabilities of llama.cpp sampling each
    sequence over the whole vocabulary."""
    import outthink.engine as engine

    params = SamplingParams(
        temperature=0.9, top_k=top_k, top_p=0.95, min_p=0.02, seed=5, max_tokens=30, stop=()
    )

    def run() -> list:
        with make_gen(model, 8) as gen:
            ids = gen.start("one two three", 8, params)
            return [(o.tokens, o.logprobs) for o in run_to_completion(gen.extend(ids))]

    fast = run()
    monkeypatch.setattr(engine, "TOPK_FAST_MAX", 0)  # every draw over the whole vocabulary
    slow = run()
    assert len({t for t, _ in fast}) > 1
    for (ft, fl), (st, sl) in zip(fast, slow, strict=True):
        assert ft == st
        assert fl == pytest.approx(sl, abs=1e-4)


@pytest.mark.starter
def test_batched_draws_equal_whole_vocabulary_draws_on_the_starter(
    starter_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same on Gemma's 262k vocabulary, where the candidates come from interleaved
    token groups (the tiny model's vocabulary is small enough to be searched directly)."""
    import outthink.engine as engine

    params = SamplingParams(seed=3, max_tokens=24, stop=())  # the defaults: top-k 40, ...

    def run(m: Model) -> list:
        gen = LlamaGenerator(m, n_ctx=plan_context(64, 6, 24), n_seq_max=6, threads=2)
        with gen:
            ids = gen.start("The three largest cities of France are", 6, params)
            return [(o.tokens, o.logprobs) for o in run_to_completion(gen.extend(ids))]

    with Model(starter_path) as m:
        assert m.n_vocab // engine.TOPK_GROUPS > 1  # the grouped search is the one used
        fast = run(m)
        monkeypatch.setattr(engine, "TOPK_FAST_MAX", 0)
        slow = run(m)
    assert len({t for t, _ in fast}) > 1
    for (ft, fl), (st, sl) in zip(fast, slow, strict=True):
        assert ft == st
        assert fl == pytest.approx(sl, abs=1e-4)


def test_headers_are_parsed_once_per_file_version(tiny_model: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.gguf"
    copy.write_bytes(tiny_model.read_bytes())
    first = read_header(copy)
    assert read_header(copy) is first  # unchanged file: the parse is reused
    data = bytearray(copy.read_bytes())
    copy.write_bytes(bytes(data[:-1000]))  # changed file: parsed (and checked) again
    with pytest.raises(ModelCorruptError):
        read_header(copy)
