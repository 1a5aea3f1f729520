"""Token counting with `bpe-openai` (o200k_base, offline; tiktoken would download its tables).

Counting is exposed as generators (`*_steps`) that yield between pieces of work, so that a
caller on the event loop can pause between them (`engine.pacing`); the plain methods run the
same steps to the end. Counts are remembered per text, so a long thread is counted once.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Generator, Iterator
from typing import Any

import bpe_openai

from assistantd.engine.pacing import drain

# OpenAI's chat format costs a few tokens per message beyond its content.
MESSAGE_OVERHEAD = 4
IMAGE_TOKENS = 85
# One encoder call on this many characters takes ~1 ms on ordinary text and ~3 ms on the worst
# (long runs without spaces): a 256k-character message in one call blocked the loop ~100 ms.
PIECE_CHARS = 8192
# Texts whose counts are remembered, in characters (LRU): a few hundred long threads' worth.
CACHE_CHARS = 32_000_000

Steps = Generator[None, None, int]


def pieces(text: str, size: int = PIECE_CHARS) -> Iterator[str]:
    """`text` in pieces of at most `size` characters, cut where o200k's pre-tokenizer starts a
    new token anyway (before a space that follows a non-space, or after a newline that precedes
    a letter or digit), so the pieces' counts add up to the whole text's. Only a stretch of
    `size // 2` characters with no such place is cut blindly (off by a token or so)."""
    start, end = 0, len(text)
    while end - start > size:
        cut = _cut(text, start + size // 2, start + size)
        yield text[start:cut]
        start = cut
    if start < end:
        yield text[start:]


def _cut(text: str, low: int, high: int) -> int:
    at = text.rfind(" ", low, high)
    while at > low:
        if not text[at - 1].isspace():
            return at
        at = text.rfind(" ", low, at)
    at = text.rfind("\n", low, high - 1)
    while at >= low:
        if text[at + 1].isalnum():
            return at + 1
        at = text.rfind("\n", low, at)
    return high


class TokenCounter:
    def __init__(self, encoding: str = "o200k_base", cache_chars: int = CACHE_CHARS) -> None:
        self._encoding = bpe_openai.get_encoding(encoding)
        self._cache: OrderedDict[str, int] = OrderedDict()
        self._cache_chars = cache_chars
        self._cached_chars = 0

    def text(self, value: str) -> int:
        return drain(self.text_steps(value))

    def message(self, message: dict[str, Any]) -> int:
        """Tokens of one Chat Completions message (content, tool calls, images)."""
        return drain(self.message_steps(message))

    def messages(self, messages: list[dict[str, Any]]) -> int:
        return drain(self.messages_steps(messages))

    def text_steps(self, value: str) -> Steps:
        if not value:
            return 0
        known = self._cache.get(value)
        if known is not None:
            self._cache.move_to_end(value)
            return known
        total = 0
        for piece in pieces(value):
            # encode_ordinary: text that looks like a special token (`<|endoftext|>`) is text
            # here, not an error (encode() raises on it), and it is 4x faster on short texts.
            total += len(self._encoding.encode_ordinary(piece))
            yield
        self._remember(value, total)
        return total

    def message_steps(self, message: dict[str, Any]) -> Steps:
        total = MESSAGE_OVERHEAD
        content = message.get("content")
        if isinstance(content, str):
            total += yield from self.text_steps(content)
        elif isinstance(content, list):
            for part in content:
                if part.get("type") == "text":
                    total += yield from self.text_steps(part.get("text", ""))
                else:
                    total += IMAGE_TOKENS
        for call in message.get("tool_calls") or []:
            function = call.get("function", {})
            total += yield from self.text_steps(function.get("name", ""))
            total += yield from self.text_steps(function.get("arguments", ""))
        return total

    def messages_steps(self, messages: list[dict[str, Any]]) -> Steps:
        total = 3
        for message in messages:
            total += yield from self.message_steps(message)
        return total

    def _remember(self, value: str, count: int) -> None:
        if len(value) > self._cache_chars:
            return
        self._cache[value] = count
        self._cached_chars += len(value)
        while self._cached_chars > self._cache_chars:
            old, _ = self._cache.popitem(last=False)
            self._cached_chars -= len(old)
