"""Model routing with the scripted upstream: aliases and the default route, `[models]` routes,
unknown models, capability refusals, the prompted-JSON tool fallback, and `GET /v1/models`."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest

from tests.conftest import ServerFactory, sdk_client
from tests.support.raw import error_of, http
from tests.support.server import ServerProcess
from tests.support.upstream import ScriptedUpstream, Text

POLL = {"poll_interval_ms": 20}
ORDER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_order_status",
        "description": "The status of an order.",
        "parameters": {
            "type": "object",
            "properties": {"order_id": {"type": "string"}},
            "required": ["order_id"],
        },
    },
}


@pytest.fixture(scope="module")
def routed(
    make_server: ServerFactory,
    upstream: ScriptedUpstream,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServerProcess]:
    """The scripted upstream as the default route, plus three `[models]` routes."""
    config = tmp_path_factory.mktemp("routing") / "assistantd.toml"
    config.write_text(
        '[models."gpt-4-turbo"]\nmodel = "turbo-upstream"\n\n'
        f'[models."small-model"]\nbase_url = "{upstream.base_url}"\nmodel = "small-upstream"\n'
        "tools = false\nvision = false\n\n"
        f'[models."no-json"]\nbase_url = "{upstream.base_url}"\ntools = false\n'
        "json_schema = false\n"
    )
    server = make_server(env={"ASSISTANTD_CONFIG": str(config)}).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def unrouted(
    make_server: ServerFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """No upstream, the embedded model switched off, one route to nowhere in particular."""
    config = tmp_path_factory.mktemp("unrouted") / "assistantd.toml"
    config.write_text('[models."only-this"]\nbase_url = "http://127.0.0.1:9/v1"\n')
    server = make_server(
        env={"ASSISTANTD_CONFIG": str(config), "ASSISTANTD_EMBEDDED_MODEL": "false"},
        with_upstream=False,
    ).start()
    yield server
    server.stop()


def start_run(
    client: openai.OpenAI, model_name: str, content: object = "hello", **assistant: object
) -> tuple[str, openai.types.beta.threads.Run]:
    assistant_id = client.beta.assistants.create(model=model_name, **assistant).id  # type: ignore[arg-type]
    thread = client.beta.threads.create(messages=[{"role": "user", "content": content}])  # type: ignore[typeddict-item]
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant_id, **POLL
    )
    return thread.id, run


def answer(client: openai.OpenAI, thread_id: str) -> str:
    message = client.beta.threads.messages.list(thread_id).data[0]
    return message.content[0].text.value  # type: ignore[union-attr]


def test_known_names_reach_the_default_upstream_as_asked(
    routed: ServerProcess, model: ScriptedUpstream
) -> None:
    client = sdk_client(routed)
    for name in ("gpt-4o", "gpt-4-1106-preview", "o3-mini", "gpt-3.5-turbo", "my-own-name"):
        model.push(Text(f"from {name}"))
        thread_id, run = start_run(client, name)
        assert run.status == "completed", run.last_error
        assert run.model == name
        assert model.requests[-1]["model"] == name
        assert answer(client, thread_id) == f"from {name}"


def test_a_models_route_sends_its_own_upstream_name(
    routed: ServerProcess, model: ScriptedUpstream
) -> None:
    client = sdk_client(routed)
    model.push(Text("turbo"))
    _, run = start_run(client, "gpt-4-turbo")
    assert run.status == "completed"
    assert run.model == "gpt-4-turbo", "the run reports the name the user asked for"
    assert model.requests[-1]["model"] == "turbo-upstream"


def test_an_unknown_model_without_a_default_fails_clearly(
    unrouted: ServerProcess, model: ScriptedUpstream
) -> None:
    _, run = start_run(sdk_client(unrouted), "gpt-4o")
    assert run.status == "failed"
    assert run.last_error is not None
    assert run.last_error.code == "server_error"
    assert "The model 'gpt-4o' is not configured" in run.last_error.message
    assert model.requests == []


def test_a_missing_capability_is_refused_before_the_model(
    routed: ServerProcess, model: ScriptedUpstream
) -> None:
    client = sdk_client(routed)
    image = [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
    ]
    _, with_image = start_run(client, "small-model", content=image)
    assert with_image.status == "failed"
    assert with_image.last_error is not None
    assert with_image.last_error.code == "invalid_prompt"
    assert with_image.last_error.message == (
        "The model 'small-model' is configured without image inputs, which this run needs."
    )
    _, with_format = start_run(client, "no-json", response_format={"type": "json_object"})
    assert with_format.status == "failed"
    assert with_format.last_error is not None
    assert "without response_format (JSON output)" in with_format.last_error.message
    assert model.requests == [], "refused runs never reach the model"


def test_tools_on_a_route_without_tool_calling_go_through_prompted_json(
    routed: ServerProcess, model: ScriptedUpstream
) -> None:
    client = sdk_client(routed)
    call = {"type": "tool_call", "name": "get_order_status", "arguments": {"order_id": "42"}}
    model.push(Text(json.dumps(call)))
    thread_id, run = start_run(
        client, "small-model", content="Where is order 42?", tools=[ORDER_TOOL]
    )
    assert run.status == "requires_action", run.last_error
    assert run.required_action is not None
    (tool_call,) = run.required_action.submit_tool_outputs.tool_calls
    assert tool_call.function.name == "get_order_status"
    assert json.loads(tool_call.function.arguments) == {"order_id": "42"}
    sent = model.requests[-1]
    assert sent["model"] == "small-upstream"
    assert "tools" not in sent
    assert "tool_choice" not in sent
    assert sent["response_format"] == {"type": "json_object"}
    system = sent["messages"][0]
    assert system["role"] == "system"
    assert "get_order_status" in system["content"]
    assert '"type": "tool_call"' in system["content"]

    model.push(Text(json.dumps({"type": "message", "content": "Order 42 has shipped."})))
    run = client.beta.threads.runs.submit_tool_outputs_and_poll(
        thread_id=thread_id,
        run_id=run.id,
        tool_outputs=[{"tool_call_id": tool_call.id, "output": '{"status": "shipped"}'}],
        **POLL,
    )
    assert run.status == "completed", run.last_error
    assert answer(client, thread_id) == "Order 42 has shipped."
    history = model.requests[-1]["messages"]
    assert json.loads(history[-2]["content"]) == call
    assert history[-1] == {
        "role": "user",
        "content": 'Result of get_order_status: {"status": "shipped"}',
    }


def test_prompted_json_without_response_format_when_the_route_lacks_it(
    routed: ServerProcess, model: ScriptedUpstream
) -> None:
    model.push(Text(json.dumps({"type": "message", "content": "No call needed."})))
    thread_id, run = start_run(sdk_client(routed), "no-json", tools=[ORDER_TOOL])
    assert run.status == "completed", run.last_error
    assert answer(sdk_client(routed), thread_id) == "No call needed."
    assert "response_format" not in model.requests[-1]
    assert "tools" not in model.requests[-1]


def test_an_invalid_prompted_reply_is_retried_once_then_fails_the_run(
    routed: ServerProcess, model: ScriptedUpstream
) -> None:
    model.push(
        Text("Sure, let me check order 42 for you."),
        Text(json.dumps({"type": "tool_call", "name": "get_order_status", "arguments": {}})),
    )
    _, run = start_run(sdk_client(routed), "small-model", tools=[ORDER_TOOL])
    assert run.status == "failed"
    assert run.last_error is not None
    assert run.last_error.code == "invalid_prompt"
    assert "did not answer with a valid tool call or message" in run.last_error.message
    assert "'order_id' is a required property" in run.last_error.message
    assert len(model.requests) == 2, "one retry, no more"
    retry = model.requests[1]["messages"]
    assert retry[-2] == {"role": "assistant", "content": "Sure, let me check order 42 for you."}
    assert retry[-1]["role"] == "user"
    assert "not a JSON object" in retry[-1]["content"]


def test_models_lists_routes_and_aliases(routed: ServerProcess, unrouted: ServerProcess) -> None:
    listed = sdk_client(routed).models.list()
    ids = [m.id for m in listed.data]
    assert ids[:3] == ["gpt-4-turbo", "small-model", "no-json"]
    for alias in ("gpt-4o", "gpt-4o-mini", "gpt-4-1106-preview", "gpt-4-turbo", "o3-mini"):
        assert alias in ids
    assert len(ids) == len(set(ids))
    first = listed.data[0]
    assert (first.object, first.owned_by) == ("model", "assistantd")
    assert isinstance(first.created, int)
    assert sdk_client(routed).models.retrieve("small-model").id == "small-model"
    # With a default route every name is served, so every name exists.
    assert sdk_client(routed).models.retrieve("org/any-model").id == "org/any-model"

    assert [m.id for m in sdk_client(unrouted).models.list().data] == ["only-this"]
    with http(unrouted, beta=None) as raw:
        response = raw.get("models/gpt-4o")
    assert response.status_code == 404
    error = error_of(response)
    assert error["code"] == "model_not_found"
    assert "gpt-4o" in error["message"]


def test_models_answer_without_the_beta_header(routed: ServerProcess) -> None:
    with http(routed, beta=None) as raw:
        body = raw.get("models").json()
    assert body["object"] == "list"
    assert set(body["data"][0]) == {"id", "object", "created", "owned_by"}
