"""Reading an emulated tool reply: validate the model's JSON against the turn's plan, and stream
a message's text while it is still being written."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, best_match

from assistantd.providers.tool_emulation import MESSAGE, TOOL_CALL, ToolPlan


class ReplyError(ValueError):
    """The reply is not one the plan allows; the message says why, for the model to read."""


@dataclass(frozen=True)
class MessageReply:
    content: str


@dataclass(frozen=True)
class ToolCallReply:
    name: str
    arguments: dict[str, Any]


def parse_reply(text: str, plan: ToolPlan) -> MessageReply | ToolCallReply:
    """The reply `text` as a message or a call. Raises ReplyError."""
    try:
        # strict=False: the grammar's strings (and some models') hold raw newlines.
        reply = json.loads(_strip_fence(text), strict=False)
    except ValueError as exc:
        raise ReplyError(f"the reply is not a JSON object ({exc})") from exc
    if not isinstance(reply, dict):
        raise ReplyError("the reply is not a JSON object")
    kind = reply.get("type")
    if kind == MESSAGE and plan.allow_message:
        content = reply.get("content")
        if not isinstance(content, str):
            raise ReplyError('"content" must be a string')
        return MessageReply(content)
    if kind == TOOL_CALL:
        name = reply.get("name")
        if not isinstance(name, str) or name not in plan.tools:
            raise ReplyError(f'"name" must be one of {sorted(plan.tools)}, not {name!r}')
        arguments = reply.get("arguments", {})
        if isinstance(arguments, str):  # some models write the arguments as a JSON string
            try:
                arguments = json.loads(arguments)
            except ValueError as exc:
                raise ReplyError(f'"arguments" is not a JSON object ({exc})') from exc
        if not isinstance(arguments, dict):
            raise ReplyError('"arguments" must be a JSON object')
        problem = argument_problem(plan.tools[name], arguments)
        if problem is not None:
            raise ReplyError(f"the arguments of {name} are invalid: {problem}")
        return ToolCallReply(name, arguments)
    allowed = [TOOL_CALL, MESSAGE] if plan.allow_message else [TOOL_CALL]
    raise ReplyError(f'"type" must be one of {allowed}, not {kind!r}')


def argument_problem(schema: dict[str, Any], arguments: dict[str, Any]) -> str | None:
    """Why `arguments` do not validate against the tool's `schema`, or None."""
    try:
        error = best_match(Draft202012Validator(schema).iter_errors(arguments))
    except SchemaError:
        return None  # a schema we cannot check is the client's to enforce
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path)
    return f"{where}: {error.message}" if where else error.message


def _strip_fence(text: str) -> str:
    """Models asked for JSON sometimes wrap it in a Markdown code fence anyway."""
    stripped = text.strip()
    match = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", stripped, flags=re.DOTALL)
    return match.group(1) if match else stripped


_MESSAGE_START = re.compile(r'\s*\{\s*"type"\s*:\s*"message"\s*,\s*"content"\s*:\s*"')
_OPENING = '{"type":"message","content":"'


class MessageTextStream:
    """Follows a reply as it is generated and yields the text of a `message` reply as soon as
    it is written, so answers stream even when the model must reply in JSON."""

    def __init__(self) -> None:
        self._raw = ""
        self._body_start: int | None = None
        self._scanned = 0  # characters of the string body already decoded
        self._closed = False
        self.is_message: bool | None = None  # None until the opening is seen or ruled out

    @property
    def raw(self) -> str:
        return self._raw

    def feed(self, fragment: str) -> str:
        """Add generated text; return message text not returned before."""
        self._raw += fragment
        if self.is_message is None:
            match = _MESSAGE_START.match(self._raw)
            if match is None:
                if not _could_open(self._raw):
                    self.is_message = False
                return ""
            self.is_message = True
            self._body_start = match.end()
        if not self.is_message or self._closed:
            return ""
        assert self._body_start is not None
        body = self._raw[self._body_start + self._scanned :]
        complete, closed = _complete_prefix(body)
        self._scanned += len(complete)
        self._closed = closed
        if not complete:
            return ""
        try:
            return str(json.loads(f'"{complete}"', strict=False))
        except ValueError:
            return complete  # an upstream's broken escape: its text is still the answer


def _could_open(raw: str) -> bool:
    """Whether `raw` may still grow into the opening of a message reply."""
    compact = re.sub(r"\s+", "", raw)
    return _OPENING.startswith(compact)


def _complete_prefix(body: str) -> tuple[str, bool]:
    """The longest start of a JSON string body that decodes on its own (no escape cut in
    half), and whether the closing quote follows it."""
    i, n = 0, len(body)
    while i < n:
        char = body[i]
        if char == '"':
            return body[:i], True
        if char != "\\":
            i += 1
            continue
        if i + 1 >= n:
            break
        if body[i + 1] != "u":
            i += 2
            continue
        if i + 6 > n:
            break
        try:
            code = int(body[i + 2 : i + 6], 16)
        except ValueError:
            i += 2
            continue
        if 0xD800 <= code < 0xDC00:  # a surrogate pair is decoded with its second half
            if i + 12 > n:
                break
            i += 12
        else:
            i += 6
    return body[:i], False
