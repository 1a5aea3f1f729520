"""Token counting with `bpe-openai` (o200k_base, offline; tiktoken would download its tables)."""

from __future__ import annotations

from typing import Any

import bpe_openai

# OpenAI's chat format costs a few tokens per message beyond its content.
MESSAGE_OVERHEAD = 4
IMAGE_TOKENS = 85


class TokenCounter:
    def __init__(self, encoding: str = "o200k_base") -> None:
        self._encoding = bpe_openai.get_encoding(encoding)

    def text(self, value: str) -> int:
        return len(self._encoding.encode(value)) if value else 0

    def message(self, message: dict[str, Any]) -> int:
        """Tokens of one Chat Completions message (content, tool calls, images)."""
        total = MESSAGE_OVERHEAD
        content = message.get("content")
        if isinstance(content, str):
            total += self.text(content)
        elif isinstance(content, list):
            for part in content:
                total += (
                    self.text(part.get("text", "")) if part.get("type") == "text" else IMAGE_TOKENS
                )
        for call in message.get("tool_calls") or []:
            function = call.get("function", {})
            total += self.text(function.get("name", "")) + self.text(function.get("arguments", ""))
        return total

    def messages(self, messages: list[dict[str, Any]]) -> int:
        return sum(self.message(m) for m in messages) + 3
