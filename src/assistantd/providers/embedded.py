"""The embedded chat provider: a local GGUF model on llama.cpp, loaded on first use and shared,
one generation at a time, its tokens streamed back to the event loop as they are sampled."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from assistantd.providers.base import ChatDelta, ChatRequest, ProviderError, Usage
from assistantd.providers.embedded_turn import (
    DEFAULT_JSON,
    DEFAULT_PROSE,
    EmbeddedTurn,
    Repetition,
    embedded_turn,
)
from assistantd.providers.llama_model import (
    Generation,
    GrammarError,
    LlamaModel,
    ModelLoadError,
    Runtime,
    load_model,
)
from assistantd.providers.model_file import ModelFileMissing, model_path
from assistantd.providers.prompted_tools import call_delta
from assistantd.providers.tool_reply import MessageReply, MessageTextStream, ReplyError, parse_reply

log = logging.getLogger("assistantd.embedded")

# Tokens kept free for the answer when an over-long conversation is shortened to fit.
_ANSWER_ROOM = 256


@dataclass(frozen=True)
class EmbeddedConfig:
    model_path: Path | None  # None: the packaged SmolLM2 GGUF
    n_threads: int
    n_ctx: int
    max_tokens: int  # per turn, when the run sets no budget
    runtime: Runtime = "auto"
    prose: Repetition = DEFAULT_PROSE  # repetition penalties of a plain-text answer
    json: Repetition = DEFAULT_JSON  # and of a JSON reply (tool calls, response_format)


@dataclass(frozen=True)
class _End:
    prompt_tokens: int
    generation: Generation


_Item = str | _End | ProviderError


class EmbeddedProvider:
    """Implements `ChatProvider`. The model is loaded by the first turn that needs it; its one
    worker thread makes generations queue, so the native model is never used concurrently."""

    def __init__(self, config: EmbeddedConfig) -> None:
        self._config = config
        self._lock = asyncio.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedded-model")
        self._model: LlamaModel | None = None

    async def close(self) -> None:
        async with self._lock:
            model, self._model = self._model, None
            if model is not None:
                await asyncio.get_running_loop().run_in_executor(self._executor, model.close)
        self._executor.shutdown(wait=False)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        async with self._lock:
            model = await self._loaded()
            loop = asyncio.get_running_loop()
            try:
                turn = await loop.run_in_executor(
                    self._executor,
                    embedded_turn,
                    request,
                    self._config.max_tokens,
                    self._config.prose,
                    self._config.json,
                )
            except ValueError as exc:  # a grammar the converter cannot build
                raise ProviderError("invalid_prompt", str(exc), retryable=False) from exc
            queue: asyncio.Queue[_Item] = asyncio.Queue()
            stop = threading.Event()

            def put(item: _Item) -> None:
                loop.call_soon_threadsafe(queue.put_nowait, item)

            job = loop.run_in_executor(self._executor, _generate, model, turn, put, stop.is_set)
            try:
                async for delta in _deltas(queue, turn):
                    yield delta
            finally:
                # The consumer may stop early (cancel, deadline): end the generation, and
                # wait for it so the next turn never finds the model busy.
                stop.set()
                with contextlib.suppress(asyncio.CancelledError):
                    await job

    async def _loaded(self) -> LlamaModel:
        if self._model is not None:
            return self._model
        try:
            path = model_path(self._config.model_path)
        except ModelFileMissing as exc:
            raise ProviderError("server_error", str(exc), retryable=False) from exc
        started = time.perf_counter()
        load = partial(
            load_model,
            path,
            n_ctx=self._config.n_ctx,
            n_threads=self._config.n_threads,
            runtime=self._config.runtime,
        )
        try:
            self._model = await asyncio.get_running_loop().run_in_executor(self._executor, load)
        except ModelLoadError as exc:
            raise ProviderError("server_error", str(exc), retryable=False) from exc
        log.info(
            "embedded model %s loaded on %s in %.2fs (%d threads, context %d)",
            path.name,
            type(self._model).__name__,
            time.perf_counter() - started,
            self._config.n_threads,
            self._config.n_ctx,
        )
        return self._model


async def _deltas(queue: asyncio.Queue[_Item], turn: EmbeddedTurn) -> AsyncIterator[ChatDelta]:
    """The generation's text as deltas; under a tool plan, a message's text or one call."""
    reader = MessageTextStream() if turn.plan is not None else None
    streamed = ""
    pending: _Item | None = None
    while True:
        item = pending if pending is not None else await queue.get()
        pending = None
        while isinstance(item, str) and not queue.empty():
            # Pieces that queued up while the loop was busy go out as one delta.
            following = queue.get_nowait()
            if isinstance(following, str):
                item += following
            else:
                pending = following
        if isinstance(item, ProviderError):
            raise item
        if isinstance(item, _End):
            break
        if reader is None:
            yield ChatDelta(content=item)
            continue
        piece = reader.feed(item)
        if piece:
            streamed += piece
            yield ChatDelta(content=piece)
    usage = Usage(item.prompt_tokens, item.generation.completion_tokens)
    finish = item.generation.finish_reason
    if reader is None or turn.plan is None:
        yield ChatDelta(finish_reason=finish, usage=usage)
        return
    try:
        reply = parse_reply(reader.raw, turn.plan)
    except ReplyError as exc:
        if streamed or finish == "length":
            yield ChatDelta(finish_reason=finish, usage=usage)  # text already sent, or cut off
            return
        raise ProviderError(
            "server_error", f"The embedded model wrote an invalid reply: {exc}", retryable=True
        ) from exc
    if isinstance(reply, MessageReply):
        yield ChatDelta(
            content=reply.content.removeprefix(streamed), finish_reason=finish, usage=usage
        )
    else:
        yield call_delta(reply, usage)


def _generate(
    model: LlamaModel,
    turn: EmbeddedTurn,
    put: Callable[[_Item], None],
    stop_requested: Callable[[], bool],
) -> None:
    """The worker thread's job: every outcome, failures included, goes through `put`."""
    try:
        tokens = _fit(model, turn)
        generation = Generation()
        for piece in model.generate(
            tokens, turn.sampling, turn.grammar, generation, stop_requested
        ):
            put(piece)
        put(_End(len(tokens), generation))
    except ProviderError as exc:
        put(exc)
    except GrammarError as exc:  # the grammar converter wrote what llama.cpp cannot parse
        log.error("embedded generation refused: %s", exc)
        put(ProviderError("server_error", str(exc), retryable=False))
    except Exception as exc:
        # provider contract is ProviderError only.
        log.exception("embedded generation failed")
        put(ProviderError("server_error", f"The embedded model failed: {exc!r}", retryable=False))


def _fit(model: LlamaModel, turn: EmbeddedTurn) -> list[int]:
    """The prompt's tokens, dropping the oldest history if the model's own tokenizer finds the
    conversation longer than the engine's count did."""
    messages = list(turn.messages)
    room = min(_ANSWER_ROOM, turn.sampling.max_tokens)
    while True:
        tokens = model.chat_tokens(messages)
        if len(tokens) + room <= model.n_ctx:
            return tokens
        history = [i for i, m in enumerate(messages[:-1]) if m["role"] != "system"]
        if not history:
            raise ProviderError(
                "invalid_prompt",
                f"The conversation ({len(tokens)} tokens) does not fit the embedded model's "
                f"context of {model.n_ctx} tokens (ASSISTANTD_EMBEDDED_CONTEXT_LENGTH).",
                retryable=False,
            )
        del messages[history[0]]
