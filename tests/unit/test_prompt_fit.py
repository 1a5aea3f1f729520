"""Prompt building for long threads: token counting in pieces and from memory, newest-first
truncation (the same result as dropping the oldest), pacing, and reading history in pages."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Generator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, insert

from assistantd.engine.images import ImageLoader
from assistantd.engine.pacing import Pacer, drain
from assistantd.engine.prompt import (
    HistoryFit,
    Prompt,
    PromptTooLong,
    keep_limit,
    message_to_chat,
    system_messages,
)
from assistantd.engine.run_prompt import build_run_prompt
from assistantd.engine.tokens import PIECE_CHARS, TokenCounter, pieces
from assistantd.store.blobs import BlobStore
from assistantd.store.database import Database
from assistantd.store.tables import messages, metadata, threads


def build_prompt(
    *,
    instructions: str,
    history: Sequence[Mapping[Any, Any]],
    run_turns: list[dict[str, Any]],
    truncation: Mapping[Any, Any],
    budget: int,
    counter: TokenCounter,
    images: Mapping[str, str] | None = None,
) -> Prompt:
    """System + thread history + this run's turns, dropping the oldest history to fit `budget`.

    `last_messages` keeps only the newest N history messages first; `auto` then drops the
    oldest until the prompt fits. This run's own turns are never dropped. All at once: the reference
    that `engine.run_prompt`, which reads and fits history in short stretches, must agree with.
    """
    system = system_messages(instructions)
    fit = HistoryFit(counter.messages(system + run_turns), budget, keep_limit(truncation))
    for row in reversed(history):
        if not drain(fit.offer_steps(message_to_chat(row, images), counter)):
            break
    return fit.prompt(system, run_turns)


@pytest.fixture(scope="module")
def counter() -> TokenCounter:
    return TokenCounter()


def prose(rng: random.Random, words: int) -> str:
    vocabulary = [
        "the", "model", "answered", "Paris", "isn't", "42", "12345", "café", "naïve", "—",
        "C++", "x=1;", "http://example.com/a/b", "Ünïcode", "日本語", "emoji🙂", "(see", "below)",
        "!!", "...", "foo_bar", "'quoted'", "tab\there", "end.",
    ]  # fmt: skip
    out: list[str] = []
    for _ in range(words):
        out.append(rng.choice(vocabulary))
        out.append(rng.choice([" ", " ", " ", " ", "  ", "\n", "\n\n", " \n", "\t"]))
    return "".join(out)


# --- counting ---------------------------------------------------------------------------------


def test_pieces_of_long_text_add_up_to_its_count(counter: TokenCounter) -> None:
    rng = random.Random(7)
    encoding = counter._encoding
    for words in (3_000, 20_000):
        text = prose(rng, words)
        parts = list(pieces(text))
        assert "".join(parts) == text
        assert len(parts) > 1
        assert all(len(part) <= PIECE_CHARS for part in parts)
        whole = len(encoding.encode_ordinary(text))
        assert sum(len(encoding.encode_ordinary(part)) for part in parts) == whole
        assert TokenCounter().text(text) == whole


def test_text_without_spaces_is_cut_at_the_piece_size() -> None:
    text = "ab1" * 10_000
    parts = list(pieces(text))
    assert "".join(parts) == text
    assert [len(p) for p in parts] == [PIECE_CHARS] * 3 + [30_000 - 3 * PIECE_CHARS]


def test_text_that_looks_like_a_special_token_is_counted_as_text(counter: TokenCounter) -> None:
    # encode() raised ValueError on it, which crashed the run that had such a message.
    assert counter.text("hi <|endoftext|> there") == len(
        counter._encoding.encode_ordinary("hi <|endoftext|> there")
    )
    assert counter.message({"role": "user", "content": "<|endofprompt|>"}) > 4


class CountingEncoding:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls = 0

    def encode_ordinary(self, text: str) -> list[int]:
        self.calls += 1
        tokens: list[int] = self.inner.encode_ordinary(text)
        return tokens


def test_counts_are_remembered_per_text_and_evicted_oldest_first() -> None:
    counter = TokenCounter(cache_chars=30)
    spy = CountingEncoding(counter._encoding)
    counter._encoding = spy
    first = counter.text("ten chars!")
    assert counter.text("ten chars!") == first
    assert spy.calls == 1
    counter.text("other text")
    counter.text("ten chars!")  # most recently used again
    counter.text("third one.")
    counter.text("fourth one")  # 40 characters remembered > 30: the oldest goes
    assert spy.calls == 4
    counter.text("ten chars!")
    assert spy.calls == 4
    counter.text("other text")
    assert spy.calls == 5


def test_message_count_covers_parts_and_tool_calls(counter: TokenCounter) -> None:
    text = counter.text
    message = {
        "role": "assistant",
        "content": [{"type": "text", "text": "hello"}, {"type": "image_url", "image_url": {}}],
        "tool_calls": [{"function": {"name": "lookup", "arguments": '{"q": 1}'}}],
    }
    assert counter.message(message) == 4 + text("hello") + 85 + text("lookup") + text('{"q": 1}')
    assert counter.messages([message, {"role": "user", "content": ""}]) == (
        counter.message(message) + 4 + 3
    )


# --- truncation -------------------------------------------------------------------------------


def reference_prompt(
    instructions: str,
    history: Sequence[Mapping[str, Any]],
    run_turns: list[dict[str, Any]],
    truncation: Mapping[str, Any],
    budget: int,
    counter: TokenCounter,
) -> tuple[list[dict[str, Any]], int]:
    """What the engine did before: everything converted and counted, oldest dropped first."""
    system = [{"role": "system", "content": instructions}] if instructions else []
    chat = [message_to_chat(row) for row in history]
    if truncation.get("type") == "last_messages" and truncation.get("last_messages"):
        chat = chat[max(0, len(chat) - int(truncation["last_messages"])) :]
    fixed = counter.messages(system + run_turns)
    costs = [counter.message(m) for m in chat]
    total, start = fixed + sum(costs), 0
    while total > budget and start < len(chat):
        total -= costs[start]
        start += 1
    if total > budget:
        raise PromptTooLong(total, budget)
    return system + chat[start:] + run_turns, total


def row(role: str, text: str) -> dict[str, Any]:
    return {"role": role, "content": [{"type": "text", "text": {"value": text}}]}


def test_newest_first_fit_matches_dropping_the_oldest(counter: TokenCounter) -> None:
    rng = random.Random(3)
    for case in range(300):
        history = [
            row(rng.choice(["user", "assistant"]), prose(rng, rng.randint(0, 30)))
            for _ in range(rng.randint(0, 25))
        ]
        turns: list[dict[str, Any]] = rng.choice(
            [[], [{"role": "assistant", "content": "partial answer so far"}]]
        )
        truncation = rng.choice(
            [
                {"type": "auto", "last_messages": None},
                {"type": "last_messages", "last_messages": rng.randint(1, 8)},
                {"type": "last_messages", "last_messages": 0},
            ]
        )
        budget = rng.randint(0, 600)
        instructions = rng.choice(["", "Be brief."])
        try:
            expected: tuple[list[dict[str, Any]], int] | int = reference_prompt(
                instructions, history, turns, truncation, budget, counter
            )
        except PromptTooLong as exc:
            expected = exc.tokens
        try:
            built: Prompt | int = build_prompt(
                instructions=instructions,
                history=history,
                run_turns=turns,
                truncation=truncation,
                budget=budget,
                counter=counter,
            )
        except PromptTooLong as exc:
            built = exc.tokens
        got = built if isinstance(built, int) else (built.messages, built.tokens)
        assert got == expected, f"case {case}"


def test_prompt_too_long_when_the_run_itself_does_not_fit(counter: TokenCounter) -> None:
    with pytest.raises(PromptTooLong) as caught:
        build_prompt(
            instructions="You are a helpful assistant with a very long system message.",
            history=[row("user", "hi")],
            run_turns=[],
            truncation={"type": "auto"},
            budget=5,
            counter=counter,
        )
    assert caught.value.budget == 5
    assert caught.value.tokens == counter.messages(
        [
            {
                "role": "system",
                "content": "You are a helpful assistant with a very long system message.",
            }
        ]
    )


# --- pacing -----------------------------------------------------------------------------------


def test_pacer_lets_the_loop_run_between_steps() -> None:
    def slow_steps() -> Generator[None, None, int]:
        for _ in range(12):
            time.sleep(0.002)
            yield
        return 12

    async def main() -> tuple[int, int]:
        ticks = 0
        stop = asyncio.Event()

        async def other() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(other())
        await asyncio.sleep(0)
        ticks = 0
        result = await Pacer(slice_seconds=0.004).run(slow_steps())
        seen = ticks
        stop.set()
        await task
        return result, seen

    result, seen = asyncio.run(main())
    assert result == 12
    # 24 ms of steps in 4 ms slices: the other task ran between the slices.
    assert seen >= 3


def test_drain_runs_the_steps_to_their_result() -> None:
    def steps() -> Generator[None, None, int]:
        for _ in range(5):
            yield
        return 5

    assert drain(steps()) == 5


# --- reading history in pages -----------------------------------------------------------------

PROJECT, THREAD, RUN = "proj_default", "thread_long", "run_current"


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path_factory.mktemp('prompt') / 'db.sqlite3'}"
    engine = create_engine(url)
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(threads),
            [{"id": THREAD, "project_id": PROJECT, "created_at": 1, "metadata": {}}],
        )
        rows = [
            {
                "id": f"msg_{i:03d}",
                "role": "user" if i % 2 == 0 else "assistant",
                "content": [
                    {"type": "text", "text": {"value": f"Note {i}: fine", "annotations": []}}
                ],
                "run_id": RUN if i in (7, 11) else (None if i % 3 else "run_older"),
            }
            for i in range(30)
        ]
        conn.execute(
            insert(messages),
            [
                {
                    **r,
                    "project_id": PROJECT,
                    "thread_id": THREAD,
                    "created_at": 1,
                    "status": "completed",
                    "attachments": [],
                    "metadata": {},
                }
                for r in rows
            ],
        )
    engine.dispose()
    db = Database(url)
    yield db
    asyncio.run(db.close())


def run_row(truncation: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": RUN,
        "thread_id": THREAD,
        "project_id": PROJECT,
        "instructions": "Answer briefly.",
        "truncation_strategy": truncation,
    }


@pytest.mark.parametrize("page_rows", [1, 4, 256])
@pytest.mark.parametrize(
    ("truncation", "budget"),
    [
        ({"type": "auto", "last_messages": None}, 100_000),
        ({"type": "auto", "last_messages": None}, 120),
        ({"type": "last_messages", "last_messages": 5}, 100_000),
    ],
)
def test_history_read_in_pages_gives_the_whole_thread_prompt(
    database: Database,
    tmp_path: Path,
    counter: TokenCounter,
    page_rows: int,
    truncation: dict[str, Any],
    budget: int,
) -> None:
    images = ImageLoader(database, BlobStore(tmp_path / "blobs"))
    run = run_row(truncation)
    built = asyncio.run(
        build_run_prompt(
            database, images, counter, run=run, steps=[], budget=budget, page_rows=page_rows
        )
    )
    history = [
        row("user" if i % 2 == 0 else "assistant", f"Note {i}: fine")
        for i in range(30)
        if i not in (7, 11)
    ]
    expected = build_prompt(
        instructions="Answer briefly.",
        history=history,
        run_turns=[],
        truncation=truncation,
        budget=budget,
        counter=counter,
    )
    assert built.prompt == expected
    assert sorted(built.own) == ["msg_007", "msg_011"]
    assert built.own["msg_011"]["content"][0]["text"]["value"] == "Note 11: fine"
    kept = len(expected.messages) - 1  # the system message aside
    if truncation["type"] == "last_messages":
        assert kept == 5
    elif budget == 120:
        assert 0 < kept < 28
    else:
        assert kept == 28
    assert expected.messages[-1]["content"] == "Note 29: fine"
