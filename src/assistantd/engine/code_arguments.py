"""The `code` string of a code_interpreter call, decoded while its JSON arguments stream in, so
the code can be streamed as `input` deltas before the call is complete."""

from __future__ import annotations

import json
import re

from assistantd.store.text import storable

_CODE_KEY = re.compile(r'"code"\s*:\s*"')
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "/": "/", "\\": "\\", '"': '"'}


class CodeFromArguments:
    """Feed argument fragments; each call returns the code characters they completed."""

    def __init__(self) -> None:
        self._raw = ""
        self._pos: int | None = None  # where undecoded string content starts
        self.done = False

    def feed(self, fragment: str) -> str:
        self._raw += fragment
        if self._pos is None:
            match = _CODE_KEY.search(self._raw)
            if match is None:
                return ""
            self._pos = match.end()
        out: list[str] = []
        raw, i = self._raw, self._pos
        while i < len(raw) and not self.done:
            ch = raw[i]
            if ch == '"':
                self.done = True
                i += 1
            elif ch != "\\":
                out.append(ch)
                i += 1
            else:
                decoded, used = _escape(raw, i)
                if used == 0:
                    break  # the escape is not complete yet
                out.append(decoded)
                i += used
        self._pos = i
        return storable("".join(out))


def _escape(raw: str, i: int) -> tuple[str, int]:
    """The character of the escape at `raw[i]` and its length; (.., 0) if incomplete."""
    if i + 1 >= len(raw):
        return "", 0
    kind = raw[i + 1]
    if kind != "u":
        return _ESCAPES.get(kind, kind), 2
    if i + 6 > len(raw):
        return "", 0
    code = int(raw[i + 2 : i + 6], 16)
    if 0xD800 <= code < 0xDC00:  # a surrogate pair spans two escapes
        if i + 12 > len(raw):
            return "", 0
        if raw[i + 6 : i + 8] == "\\u":
            low = int(raw[i + 8 : i + 12], 16)
            return chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)), 12
    return chr(code), 6


def code_of(arguments: str) -> str:
    """The complete call's code: the `code` field, or the whole text when the model sent bare
    code instead of JSON. A NUL (which Python source cannot hold anyway) becomes U+FFFD, as in
    the streamed deltas, so what is stored is what was streamed."""
    try:
        parsed = json.loads(arguments)
    except json.JSONDecodeError:
        return arguments
    if isinstance(parsed, dict) and isinstance(parsed.get("code"), str):
        return storable(str(parsed["code"]))
    if isinstance(parsed, str):
        return storable(parsed)
    return storable(arguments)
