"""The embedded model's llama.cpp runtimes on the packaged SmolLM2 GGUF: streaming with UTF-8
intact, grammars (and a bad one refused instead of crashing), stops, limits, long prompts; and
which runtime `auto` picks."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistantd.providers import llama_model
from assistantd.providers.cyllama_model import CyllamaModel
from assistantd.providers.llama_model import (
    Generation,
    GrammarError,
    LlamaModel,
    ModelLoadError,
    Runtime,
    Sampling,
    choose_runtime,
    cpu_flags,
    load_model,
)
from assistantd.providers.model_file import ModelFileMissing, packaged_gguf

try:
    GGUF = packaged_gguf()
except ModelFileMissing:  # pragma: no cover - `make model` fetches it
    pytest.skip("the SmolLM2 GGUF is not installed (make model)", allow_module_level=True)

INSTALLED = {"cyllama": "cyllama", "llama-cpp-python": "llama_cpp"}
RUNTIMES = [
    pytest.param(
        name,
        marks=pytest.mark.skipif(
            importlib.util.find_spec(module) is None, reason=f"{name} is not installed"
        ),
    )
    for name, module in INSTALLED.items()
]
GREEDY = Sampling(temperature=0.0, top_p=1.0, max_tokens=48)
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module", params=RUNTIMES)
def model(request: pytest.FixtureRequest) -> Iterator[LlamaModel]:
    runtime: Runtime = request.param
    loaded = load_model(GGUF, n_ctx=2048, n_threads=1, runtime=runtime)
    yield loaded
    loaded.close()


def run(
    model: LlamaModel,
    sampling: Sampling = GREEDY,
    grammar: str | None = None,
    messages: list[dict[str, str]] = QUESTION,
    stop_after: int | None = None,
) -> tuple[list[str], Generation]:
    pieces: list[str] = []
    result = Generation()
    tokens = model.chat_tokens(messages)

    def stop() -> bool:
        return stop_after is not None and len(pieces) >= stop_after

    pieces.extend(model.generate(tokens, sampling, grammar, result, stop))
    return pieces, result


def test_an_answer_streams_token_by_token(model: LlamaModel) -> None:
    french = [{"role": "user", "content": f"{QUESTION[0]['content']} Answer in French."}]
    sampling = Sampling(temperature=0.0, top_p=1.0, max_tokens=48, repeat_penalty=1.1)
    pieces, result = run(model, sampling, messages=french)
    assert len(pieces) > 1
    text = "".join(pieces)
    assert text.strip()
    assert "\ufffd" not in text
    assert result.finish_reason == "stop"  # it ended with its end-of-turn token
    assert 1 < result.completion_tokens < sampling.max_tokens


def test_the_chat_template_is_the_models_own(model: LlamaModel) -> None:
    tokens = model.chat_tokens([{"role": "system", "content": "Be brief."}, *QUESTION])
    assert tokens[0] == 1  # <|im_start|> opens ChatML; no extra BOS
    assert tokens.count(1) == 3  # system, user, and the assistant turn it leaves open
    assert tokens.count(2) == 2  # <|im_end|> after system and user only


def test_characters_split_across_tokens_are_never_streamed_broken(model: LlamaModel) -> None:
    # " 日" and " 語" are three single-byte tokens each in SmolLM2's vocabulary.
    text = "日本語 café, naïve 日本語"
    pieces, result = run(model, grammar=f'root ::= "{text}"')
    assert "".join(pieces) == text
    assert not any("\ufffd" in piece for piece in pieces)
    assert result.finish_reason == "stop"


def test_a_grammar_shapes_the_answer(model: LlamaModel) -> None:
    sampling = Sampling(temperature=0.8, top_p=0.95, max_tokens=8)
    for _ in range(3):
        pieces, result = run(model, sampling, grammar='root ::= "yes" | "no"')
        assert "".join(pieces) in ("yes", "no")
        assert result.finish_reason == "stop"


def test_a_grammar_llama_cpp_cannot_parse_is_refused_and_the_model_lives_on(
    model: LlamaModel,
) -> None:
    with pytest.raises(GrammarError, match=r"llama\.cpp rejected the grammar"):
        run(model, grammar='root ::= "a" | undefined-rule')
    pieces, _ = run(model, grammar='root ::= "ok"')
    assert "".join(pieces) == "ok"


def test_max_tokens_ends_with_length(model: LlamaModel) -> None:
    pieces, result = run(model, Sampling(temperature=0.0, top_p=1.0, max_tokens=3))
    assert (result.completion_tokens, result.finish_reason) == (3, "length")
    assert "".join(pieces)


def test_a_stop_request_ends_the_generation_at_once(model: LlamaModel) -> None:
    long = [{"role": "user", "content": "Write a long story about a lighthouse."}]
    sampling = Sampling(temperature=0.0, top_p=1.0, max_tokens=200)
    pieces, result = run(model, sampling, messages=long, stop_after=2)
    assert len(pieces) == 2
    assert result.finish_reason == "stop"
    assert result.completion_tokens <= 4  # pieces may hold back a split character


def test_a_prompt_longer_than_one_decode_batch_is_read_in_chunks(model: LlamaModel) -> None:
    # 1,500 tokens: a single llama_decode call above n_batch (512) would abort the process.
    words = " ".join(f"harbour{i % 10}" for i in range(600))
    messages = [{"role": "user", "content": f"{words}\nSay hello."}]
    tokens = model.chat_tokens(messages)
    assert 1000 < len(tokens) < 2000
    pieces, result = run(model, Sampling(0.0, 1.0, 4), messages=messages)
    assert result.completion_tokens > 0
    assert "".join(pieces)


def test_a_full_context_leaves_no_room_to_answer(model: LlamaModel) -> None:
    result = Generation()
    tokens = model.chat_tokens(QUESTION)
    tokens = (tokens * (model.n_ctx // len(tokens) + 1))[: model.n_ctx]
    assert list(model.generate(tokens, GREEDY, None, result, lambda: False)) == []
    assert (result.completion_tokens, result.finish_reason) == (0, "length")


def test_a_follow_up_turn_reads_only_the_new_part_of_the_prompt(model: LlamaModel) -> None:
    sampling = Sampling(temperature=0.0, top_p=1.0, max_tokens=16, repeat_penalty=1.1)
    first, _ = run(model, sampling)
    follow_up = [
        *QUESTION,
        {"role": "assistant", "content": "".join(first)},
        {"role": "user", "content": "And of Italy?"},
    ]
    answer, result = run(model, sampling, messages=follow_up)
    if isinstance(model, CyllamaModel):  # llama-cpp-python reuses its context without saying
        assert result.cached_tokens >= len(model.chat_tokens(QUESTION)) - 1
    fresh = load_model(GGUF, n_ctx=2048, n_threads=1, runtime=runtime_of(model))
    try:
        again, again_result = run(fresh, sampling, messages=follow_up)
    finally:
        fresh.close()
    assert again_result.cached_tokens == 0
    # What the context kept is what a fresh read computes. Not the whole answer: batches of
    # other shapes round differently, and a near tie may go the other way later on.
    assert len(answer) > 3
    assert again[:3] == answer[:3]


def runtime_of(model: LlamaModel) -> Runtime:
    return "cyllama" if isinstance(model, CyllamaModel) else "llama-cpp-python"


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_file_that_is_not_gguf_is_a_load_error(runtime: Runtime, tmp_path: Path) -> None:
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"not a model" * 100)
    with pytest.raises(ModelLoadError, match="could not load"):
        load_model(bad, n_ctx=512, n_threads=1, runtime=runtime)


def test_a_runtime_that_is_not_installed_is_a_load_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cyllama.llama.llama_cpp", None)
    monkeypatch.setattr(llama_model, "cpu_flags", lambda: None)
    with pytest.raises(ModelLoadError, match="runtime cyllama is not installed"):
        load_model(GGUF, n_ctx=512, n_threads=1, runtime="cyllama")


GOOD_CPU = frozenset({"sse4_2", "avx", "avx2", "fma", "f16c"})
OLD_CPU = frozenset({"sse4_2", "avx"})


@pytest.mark.parametrize(
    ("runtime", "installed", "flags", "chosen"),
    [
        ("auto", {"cyllama", "llama_cpp"}, GOOD_CPU, "cyllama"),
        ("auto", {"cyllama"}, None, "cyllama"),
        ("auto", {"llama_cpp"}, GOOD_CPU, "llama-cpp-python"),
        ("auto", {"cyllama", "llama_cpp"}, OLD_CPU, "llama-cpp-python"),
        ("auto", set(), GOOD_CPU, "cyllama"),  # and then: not installed
        ("llama-cpp-python", {"cyllama", "llama_cpp"}, GOOD_CPU, "llama-cpp-python"),
        ("cyllama", {"cyllama", "llama_cpp"}, GOOD_CPU, "cyllama"),
    ],
)
def test_which_runtime_is_chosen(
    runtime: Runtime, installed: set[str], flags: frozenset[str] | None, chosen: str
) -> None:
    assert choose_runtime(runtime, installed.__contains__, flags) == chosen


@pytest.mark.parametrize("runtime", ["auto", "cyllama"])
def test_a_cpu_without_avx2_gets_the_source_build_hint(runtime: Runtime) -> None:
    with pytest.raises(ModelLoadError) as caught:
        choose_runtime(runtime, {"cyllama"}.__contains__, OLD_CPU)
    assert "This CPU lacks avx2, f16c, fma" in str(caught.value)
    assert "pip install 'assistantd[llama-cpp-python]'" in str(caught.value)
    assert "ASSISTANTD_EMBEDDED_RUNTIME=llama-cpp-python" in str(caught.value)


def test_cpu_flags_are_read_from_cpuinfo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 fma\nbugs\t\t: spectre\n")
    monkeypatch.setattr(llama_model.platform, "machine", lambda: "x86_64")
    assert cpu_flags(cpuinfo) == {"fpu", "sse", "avx2", "fma"}
    assert cpu_flags(tmp_path / "missing") is None
    monkeypatch.setattr(llama_model.platform, "machine", lambda: "arm64")
    assert cpu_flags(cpuinfo) is None
