"""Upstream faults and configuration errors end runs cleanly, with a readable `last_error`."""

from __future__ import annotations

from pathlib import Path

import openai

from tests.conftest import ServerFactory, sdk_client
from tests.support.server import free_port
from tests.support.upstream import CutStream, Hang, HttpError, Malformed, ScriptedUpstream, Text

POLL = {"poll_interval_ms": 20}


def run_once(
    client: openai.OpenAI, **assistant: object
) -> tuple[str, openai.types.beta.threads.Run]:
    body: dict[str, object] = {"model": "gpt-4o"}
    body.update(assistant)
    assistant_id = client.beta.assistants.create(**body).id  # type: ignore[arg-type]
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "hello"}])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant_id, **POLL
    )
    return thread.id, run


def test_rate_limits_are_retried_then_reported(
    client: openai.OpenAI, model: ScriptedUpstream
) -> None:
    model.push(*[HttpError(429, "slow down")] * 4)
    _, run = run_once(client)
    assert run.status == "failed"
    assert run.failed_at is not None
    assert run.last_error is not None
    assert run.last_error.code == "rate_limit_exceeded"
    assert "429" in run.last_error.message
    assert len(model.requests) == 4, "one try and three retries"


def test_a_transient_server_error_is_retried(
    client: openai.OpenAI, model: ScriptedUpstream
) -> None:
    model.push(HttpError(503), Text("fine now"))
    thread_id, run = run_once(client)
    assert run.status == "completed"
    assert len(model.requests) == 2
    answer = client.beta.threads.messages.list(thread_id).data[0]
    assert answer.content[0].text.value == "fine now"  # type: ignore[union-attr]


def test_persistent_server_errors_fail_the_run(
    client: openai.OpenAI, model: ScriptedUpstream
) -> None:
    model.push(*[HttpError(500, "boom")] * 4)
    thread_id, run = run_once(client)
    assert run.status == "failed"
    assert run.last_error is not None
    assert run.last_error.code == "server_error"
    assert "500" in run.last_error.message
    assert [m.role for m in client.beta.threads.messages.list(thread_id)] == ["user"]


def test_a_client_error_from_the_upstream_is_not_retried(
    client: openai.OpenAI, model: ScriptedUpstream
) -> None:
    model.push(HttpError(400, "context too long"))
    _, run = run_once(client)
    assert run.status == "failed"
    assert run.last_error is not None
    assert run.last_error.code == "invalid_prompt"
    assert len(model.requests) == 1


def test_a_cut_stream_fails_the_run_and_keeps_the_partial_message(
    client: openai.OpenAI, model: ScriptedUpstream
) -> None:
    model.push(CutStream("partial answer here", after_chunks=2))
    thread_id, run = run_once(client)
    assert run.status == "failed"
    assert run.last_error is not None
    assert "cut off" in run.last_error.message
    assert len(model.requests) == 1, "no retry once part of the answer was streamed"
    message = client.beta.threads.messages.list(thread_id).data[0]
    assert message.role == "assistant"
    assert message.status == "incomplete"
    assert message.incomplete_details is not None
    assert message.incomplete_details.reason == "run_failed"
    assert message.content[0].text.value == "partial "  # type: ignore[union-attr]
    step = client.beta.threads.runs.steps.list(run.id, thread_id=thread_id).data[0]
    assert step.status == "failed"
    assert step.last_error is not None
    assert step.last_error.code == "server_error"


def test_a_malformed_stream_fails_the_run(client: openai.OpenAI, model: ScriptedUpstream) -> None:
    model.push(*[Malformed()] * 4)
    _, run = run_once(client)
    assert run.status == "failed"
    assert run.last_error is not None
    assert "malformed" in run.last_error.message


def test_an_upstream_that_hangs_times_out(
    make_server: ServerFactory, model: ScriptedUpstream
) -> None:
    server = make_server(
        env={"ASSISTANTD_UPSTREAM_TIMEOUT_SECONDS": "0.5", "ASSISTANTD_UPSTREAM_RETRIES": "1"}
    ).start()
    try:
        model.push(Hang(3), Hang(3))
        _, run = run_once(sdk_client(server))
        assert run.status == "failed"
        assert run.last_error is not None
        assert run.last_error.code == "server_error"
        assert len(model.requests) == 2
    finally:
        server.stop()


def test_an_unreachable_upstream_fails_the_run(make_server: ServerFactory) -> None:
    closed = free_port()  # nothing listens there
    server = make_server(
        env={
            "ASSISTANTD_UPSTREAM_BASE_URL": f"http://127.0.0.1:{closed}/v1",
            "ASSISTANTD_UPSTREAM_RETRY_BASE_SECONDS": "0.01",
        },
        with_upstream=False,
    ).start()
    try:
        _, run = run_once(sdk_client(server))
        assert run.status == "failed"
        assert run.last_error is not None
        assert run.last_error.code == "server_error"
        assert "Could not reach the model upstream" in run.last_error.message
    finally:
        server.stop()


def test_an_unconfigured_model_fails_the_run(
    make_server: ServerFactory, model: ScriptedUpstream
) -> None:
    server = make_server(env={"ASSISTANTD_EMBEDDED_MODEL": "false"}, with_upstream=False).start()
    try:
        _, run = run_once(sdk_client(server))
        assert run.status == "failed"
        assert run.last_error is not None
        assert run.last_error.code == "server_error"
        assert "The model 'gpt-4o' is not configured" in run.last_error.message
    finally:
        server.stop()


def test_model_routes_from_the_config_file(
    make_server: ServerFactory, model: ScriptedUpstream, tmp_path: Path
) -> None:
    config = tmp_path / "assistantd.toml"
    config.write_text(
        f'[models."gpt-4-turbo"]\nbase_url = "{model.base_url}"\nmodel = "local-llama"\n'
        "context_length = 4096\n"
    )
    server = make_server(
        env={"ASSISTANTD_CONFIG": str(config), "ASSISTANTD_EMBEDDED_MODEL": "false"},
        with_upstream=False,
    ).start()
    try:
        client = sdk_client(server)
        _, routed = run_once(client, model="gpt-4-turbo")
        assert routed.status == "completed"
        assert model.requests[-1]["model"] == "local-llama"
        assert routed.model == "gpt-4-turbo", "the run reports the name the user asked for"
        _, unrouted = run_once(client, model="gpt-4o")
        assert unrouted.status == "failed"
    finally:
        server.stop()


def test_a_route_without_a_capability_refuses_clearly(
    make_server: ServerFactory, model: ScriptedUpstream, tmp_path: Path
) -> None:
    config = tmp_path / "assistantd.toml"
    config.write_text(
        f'[models."small-model"]\nbase_url = "{model.base_url}"\ntools = false\nvision = false\n'
    )
    server = make_server(env={"ASSISTANTD_CONFIG": str(config)}, with_upstream=False).start()
    try:
        client = sdk_client(server)
        weather = {"type": "function", "function": {"name": "get_weather"}}
        _, with_tools = run_once(client, model="small-model", tools=[weather])
        # Tools are emulated (prompted JSON); the scripted "ok" is not a valid reply, twice.
        assert with_tools.status == "failed"
        assert with_tools.last_error is not None
        assert with_tools.last_error.code == "invalid_prompt"
        assert "did not answer with a valid tool call" in with_tools.last_error.message
        assistant_id = client.beta.assistants.create(model="small-model").id
        thread = client.beta.threads.create(
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is this?"},
                        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                    ],
                }
            ]
        )
        with_image = client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant_id, **POLL
        )
        assert with_image.status == "failed"
        assert with_image.last_error is not None
        assert "image inputs" in with_image.last_error.message
        _, plain = run_once(client, model="small-model")
        assert plain.status == "completed"
        assert model.requests[-1]["model"] == "small-model"
        assert len(model.requests) == 3, "the tool run asked twice; the image run never asked"
    finally:
        server.stop()
