"""Token chunking: offsets into the source, sizes, overlap, word boundaries, spec validation."""

from __future__ import annotations

import itertools

import pytest

from assistantd.retrieval.chunking import (
    ChunkingSpec,
    chunk_text,
    count_tokens,
    default_encoder,
    validate_chunking,
)

WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
]


def prose(n_words: int) -> str:
    return " ".join(WORDS[i % len(WORDS)] + ("." if i % 9 == 8 else "") for i in range(n_words))


def test_auto_spec() -> None:
    assert ChunkingSpec(max_tokens=800, overlap_tokens=400) == ChunkingSpec.AUTO


@pytest.mark.parametrize(
    ("max_tokens", "overlap", "message"),
    [
        (99, 0, "max_chunk_size_tokens must be between 100 and 4096, got 99"),
        (4097, 0, "max_chunk_size_tokens must be between 100 and 4096, got 4097"),
        (100, -1, "chunk_overlap_tokens must not be negative, got -1"),
        (800, 401, r"must not exceed half of max_chunk_size_tokens \(400\), got 401"),
    ],
)
def test_validation(max_tokens: int, overlap: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_chunking(max_tokens, overlap)
    with pytest.raises(ValueError, match=message):
        chunk_text("some text", ChunkingSpec(max_tokens, overlap))


@pytest.mark.parametrize(("max_tokens", "overlap"), [(100, 0), (4096, 2048), (800, 400)])
def test_valid_bounds(max_tokens: int, overlap: int) -> None:
    assert ChunkingSpec(max_tokens, overlap).validate() == ChunkingSpec(max_tokens, overlap)


def test_short_text_is_one_chunk() -> None:
    text = "Hello, world. A short document."
    chunks = chunk_text(text, ChunkingSpec.AUTO)
    assert len(chunks) == 1
    assert chunks[0].text == text
    assert (chunks[0].index, chunks[0].start_char, chunks[0].end_char) == (0, 0, len(text))
    assert chunks[0].token_count == count_tokens(text) == 8


def test_blank_text_has_no_chunks() -> None:
    assert chunk_text("", ChunkingSpec.AUTO) == []
    assert chunk_text(" \n\t ", ChunkingSpec.AUTO) == []


def test_offsets_sizes_and_overlap() -> None:
    text = prose(3000)
    spec = ChunkingSpec(200, 100)
    chunks = chunk_text(text, spec)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert chunk.text == text[chunk.start_char : chunk.end_char]
        assert chunk.token_count <= 200
    assert chunks[0].start_char == 0
    assert chunks[-1].end_char == len(text)
    for before, after in itertools.pairwise(chunks):
        # Each chunk starts inside the previous one, about `overlap` tokens before its end.
        assert before.start_char < after.start_char < before.end_char
        shared = text[after.start_char : before.end_char]
        # Counted in the whole text's tokens the overlap is 90..100 (a boundary may move back
        # to end between words); re-tokenised alone its edges may count one token more.
        assert 90 <= count_tokens(shared) <= 101
    # Interior chunks are full (up to the few tokens given back to end between words).
    assert all(c.token_count >= 190 for c in chunks[:-1])


def test_no_overlap_tiles_the_text() -> None:
    text = prose(2000)
    chunks = chunk_text(text, ChunkingSpec(100, 0))
    assert "".join(c.text for c in chunks) == text
    assert sum(c.token_count for c in chunks) == count_tokens(text)
    for before, after in itertools.pairwise(chunks):
        assert before.end_char == after.start_char


def test_chunks_do_not_end_inside_words() -> None:
    # Long compound words are several tokens each: many boundaries fall inside a word.
    text = " ".join(["electrohydrodynamically", "counterrevolutionaries"] * 400)
    chunks = chunk_text(text, ChunkingSpec(100, 30))
    assert len(chunks) > 20
    for chunk in chunks:
        for at in (chunk.start_char, chunk.end_char):
            if 0 < at < len(text):
                assert not (text[at - 1].isalpha() and text[at].isalpha())


def test_multibyte_text_offsets() -> None:
    text = "héllo wörld 日本語のテキスト emoji 🙂🙂 " * 300
    chunks = chunk_text(text, ChunkingSpec(100, 50))
    assert len(chunks) > 10
    for chunk in chunks:
        assert chunk.text == text[chunk.start_char : chunk.end_char]
        assert chunk.token_count <= 100


def test_long_text_beyond_tokenizer_limits() -> None:
    # bpe-openai refuses a single input of 1M characters; chunking must still work.
    text = prose(250_000)
    assert len(text) > 1_000_000
    chunks = chunk_text(text, ChunkingSpec(4096, 0))
    assert "".join(c.text for c in chunks) == text
    assert all(c.token_count <= 4096 for c in chunks)


def test_lone_surrogates_keep_offsets() -> None:
    text = "before \ud800 after " * 50
    chunks = chunk_text(text, ChunkingSpec(100, 0))
    assert "".join(c.text for c in chunks) == text


def test_explicit_encoder() -> None:
    assert chunk_text("abc def", ChunkingSpec.AUTO, default_encoder())[0].token_count == 2
