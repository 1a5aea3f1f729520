"""Token-based chunking (o200k_base, as the hosted file_search counts tokens) with char offsets.

Chunks overlap by a token count and prefer to end between words rather than inside one.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import ClassVar, Final, Protocol

import numpy as np
import numpy.typing as npt

MIN_CHUNK_TOKENS: Final = 100
MAX_CHUNK_TOKENS: Final = 4096
# bpe-openai refuses inputs over 1M characters or 200k tokens; 40k characters are at most
# 160k bytes, and a token is at least one byte.
_SEGMENT_CHARS: Final = 40_000
# How far back (in tokens) a chunk end may move to avoid cutting a word in two.
_WORD_LOOKBACK_FRACTION: Final = 0.05
_SURROGATES: Final = re.compile("[\ud800-\udfff]")


class Encoder(Protocol):
    """The part of a `bpe_openai.Encoding` (or tiktoken `Encoding`) that chunking uses."""

    n_vocab: int

    def encode_ordinary(self, text: str) -> list[int]: ...

    def decode_single_token_bytes(self, token: int) -> bytes: ...


@dataclass(frozen=True, slots=True)
class ChunkingSpec:
    """A static chunking strategy: `max_tokens` per chunk, `overlap_tokens` shared by neighbours."""

    max_tokens: int
    overlap_tokens: int

    AUTO: ClassVar[ChunkingSpec]

    def validate(self) -> ChunkingSpec:
        validate_chunking(self.max_tokens, self.overlap_tokens)
        return self


ChunkingSpec.AUTO = ChunkingSpec(max_tokens=800, overlap_tokens=400)


def validate_chunking(max_tokens: int, overlap_tokens: int) -> None:
    """Raise ValueError unless the pair is a valid static chunking strategy (as the API checks)."""
    if not MIN_CHUNK_TOKENS <= max_tokens <= MAX_CHUNK_TOKENS:
        raise ValueError(
            f"max_chunk_size_tokens must be between {MIN_CHUNK_TOKENS} and {MAX_CHUNK_TOKENS}, "
            f"got {max_tokens}."
        )
    if overlap_tokens < 0:
        raise ValueError(f"chunk_overlap_tokens must not be negative, got {overlap_tokens}.")
    if overlap_tokens > max_tokens // 2:
        raise ValueError(
            "chunk_overlap_tokens must not exceed half of max_chunk_size_tokens "
            f"({max_tokens // 2}), got {overlap_tokens}."
        )


@dataclass(frozen=True, slots=True)
class TextChunk:
    """One chunk: `text == source[start_char:end_char]`, `token_count` o200k tokens."""

    text: str
    index: int
    token_count: int
    start_char: int
    end_char: int


class _Tokens:
    """Token boundaries of a text as char offsets; `bounds[i]` is where token i starts."""

    def __init__(self, bounds: npt.NDArray[np.int64], exact: npt.NDArray[np.bool_]) -> None:
        self.bounds = bounds  # len = tokens + 1, last = len(text)
        # False where a boundary falls inside a character (byte-level tokens of rare symbols).
        self.exact = exact

    @property
    def count(self) -> int:
        return len(self.bounds) - 1


_encoder_lock = threading.Lock()
_default_encoder: Encoder | None = None
_byte_lengths: dict[int, npt.NDArray[np.int32]] = {}


def default_encoder() -> Encoder:
    """The o200k_base encoding, loaded once per process."""
    global _default_encoder
    with _encoder_lock:
        if _default_encoder is None:
            import bpe_openai

            encoding: Encoder = bpe_openai.get_encoding("o200k_base")
            _default_encoder = encoding
        return _default_encoder


def _token_byte_lengths(encoder: Encoder) -> npt.NDArray[np.int32]:
    key = id(encoder)
    with _encoder_lock:
        table = _byte_lengths.get(key)
        if table is None:
            lengths = np.zeros(encoder.n_vocab, dtype=np.int32)
            for token in range(encoder.n_vocab):
                try:
                    lengths[token] = len(encoder.decode_single_token_bytes(token))
                except KeyError:
                    continue  # unused ids between the ranks and the special tokens
            table = _byte_lengths[key] = lengths
        return table


def count_tokens(text: str, encoder: Encoder | None = None) -> int:
    """o200k tokens of `text` (any length)."""
    encoder = encoder or default_encoder()
    return sum(len(encoder.encode_ordinary(seg)) for seg in _segments(_clean(text)))


def _clean(text: str) -> str:
    # Lone surrogates cannot be encoded; U+FFFD keeps the length, so offsets stay valid.
    return _SURROGATES.sub("\ufffd", text) if _SURROGATES.search(text) else text


def _segments(text: str) -> list[str]:
    """Split at spaces so each piece fits the tokenizer's limits and words stay whole."""
    segments: list[str] = []
    start = 0
    while len(text) - start > _SEGMENT_CHARS:
        cut = text.rfind(" ", start + _SEGMENT_CHARS // 2, start + _SEGMENT_CHARS)
        if cut <= start:
            cut = start + _SEGMENT_CHARS
        segments.append(text[start:cut])
        start = cut
    segments.append(text[start:])
    return segments


def _tokenize(text: str, encoder: Encoder) -> _Tokens:
    lengths = _token_byte_lengths(encoder)
    bounds: list[npt.NDArray[np.int64]] = []
    exact: list[npt.NDArray[np.bool_]] = []
    char_base = 0
    for segment in _segments(text):
        ids = np.asarray(encoder.encode_ordinary(segment), dtype=np.int64)
        raw = np.frombuffer(segment.encode("utf-8"), dtype=np.uint8)
        # A byte starts a character unless it is a UTF-8 continuation byte (10xxxxxx).
        starts = (raw & 0xC0) != 0x80
        chars_before = np.concatenate(([0], np.cumsum(starts, dtype=np.int64)))
        byte_bounds = np.concatenate(([0], np.cumsum(lengths[ids], dtype=np.int64)))[:-1]
        bounds.append(chars_before[byte_bounds] + char_base)
        exact.append(np.append(starts, True)[byte_bounds])
        char_base += len(segment)
    bounds.append(np.array([char_base], dtype=np.int64))
    exact.append(np.array([True]))
    return _Tokens(np.concatenate(bounds), np.concatenate(exact))


def chunk_text(text: str, spec: ChunkingSpec, encoder: Encoder | None = None) -> list[TextChunk]:
    """Cut `text` into chunks of at most `spec.max_tokens` tokens overlapping by about
    `spec.overlap_tokens`. Whitespace-only text gives no chunks."""
    spec.validate()
    if not text.strip():
        return []
    encoder = encoder or default_encoder()
    clean = _clean(text)
    tokens = _tokenize(clean, encoder)
    total = tokens.count
    chunks: list[TextChunk] = []
    lookback = max(1, int(spec.max_tokens * _WORD_LOOKBACK_FRACTION))
    start = 0
    while True:
        end = total if total - start <= spec.max_tokens else start + spec.max_tokens
        if end < total:
            end = _word_boundary(clean, tokens, end, floor=start + 1, lookback=lookback)
        start_char, end_char = int(tokens.bounds[start]), int(tokens.bounds[end])
        piece = text[start_char:end_char]
        if piece.strip():
            chunks.append(TextChunk(piece, len(chunks), end - start, start_char, end_char))
        if end >= total:
            return chunks
        following = max(end - spec.overlap_tokens, start + 1)
        if following < end:
            following = _word_boundary(clean, tokens, following, floor=start + 1, lookback=lookback)
        start = following


def _word_boundary(text: str, tokens: _Tokens, at: int, *, floor: int, lookback: int) -> int:
    """The nearest token boundary at or before `at` that is not inside a word or a character."""
    for candidate in range(at, max(floor, at - lookback) - 1, -1):
        if not tokens.exact[candidate]:
            continue
        char = int(tokens.bounds[candidate])
        if not (text[char - 1].isalnum() and text[char].isalnum()):
            return candidate
    for candidate in range(at, max(floor, at - lookback) - 1, -1):
        if tokens.exact[candidate]:
            return candidate
    return at
