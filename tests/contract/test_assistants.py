"""Assistants through the real SDK: every field round-trips, updates are partial, lists page."""

from __future__ import annotations

import openai
import pytest

from tests.support.files import new_store, upload
from tests.support.raw import error_of, http
from tests.support.server import ServerProcess

FUNCTION = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
        "strict": True,
    },
}


def test_create_returns_every_field(client: openai.OpenAI) -> None:
    file_id, store_id = upload(client, "notes.txt", b"Some notes."), new_store(client)
    created = client.beta.assistants.create(
        model="gpt-4o",
        name="Geography Expert",
        description="Answers geography questions",
        instructions="Be concise.",
        tools=[{"type": "code_interpreter"}, {"type": "file_search"}, FUNCTION],
        tool_resources={
            "code_interpreter": {"file_ids": [file_id]},
            "file_search": {"vector_store_ids": [store_id]},
        },
        metadata={"team": "geo"},
        temperature=0.5,
        top_p=0.9,
        response_format={"type": "json_object"},
    )
    assert created.id.startswith("asst_")
    assert created.object == "assistant"
    assert isinstance(created.created_at, int)
    assert created.name == "Geography Expert"
    assert created.description == "Answers geography questions"
    assert created.instructions == "Be concise."
    assert created.model == "gpt-4o"
    assert created.metadata == {"team": "geo"}
    assert created.temperature == 0.5
    assert created.top_p == 0.9
    assert created.response_format is not None
    assert created.response_format.type == "json_object"  # type: ignore[union-attr]
    assert [tool.type for tool in created.tools] == ["code_interpreter", "file_search", "function"]
    file_search = created.tools[1].file_search  # type: ignore[union-attr]
    assert file_search is not None
    assert file_search.max_num_results == 20
    assert file_search.ranking_options is not None
    assert file_search.ranking_options.score_threshold == 0.0
    function = created.tools[2].function  # type: ignore[union-attr]
    assert function.name == "get_weather"
    assert function.parameters == FUNCTION["function"]["parameters"]  # type: ignore[index]
    assert function.strict is True
    assert created.tool_resources is not None
    assert created.tool_resources.code_interpreter is not None
    assert created.tool_resources.code_interpreter.file_ids == [file_id]
    assert created.tool_resources.file_search is not None
    assert created.tool_resources.file_search.vector_store_ids == [store_id]

    fetched = client.beta.assistants.retrieve(created.id)
    assert fetched.model_dump() == created.model_dump()


def test_minimal_assistant_has_nulls_not_missing_keys(server: ServerProcess) -> None:
    with http(server) as api:
        body = api.post("assistants", json={"model": "gpt-4o-mini"}).json()
    assert body["name"] is None
    assert body["description"] is None
    assert body["instructions"] is None
    assert body["tools"] == []
    assert body["tool_resources"] == {}
    assert body["metadata"] == {}
    assert body["temperature"] is None
    assert body["top_p"] is None
    assert body["response_format"] == "auto"


def test_update_changes_only_given_fields(client: openai.OpenAI) -> None:
    created = client.beta.assistants.create(
        model="gpt-4o", name="before", instructions="keep me", metadata={"a": "1", "b": "2"}
    )
    updated = client.beta.assistants.update(
        created.id, name="after", metadata={"c": "3"}, tools=[FUNCTION]
    )
    assert updated.name == "after"
    assert updated.instructions == "keep me"
    assert updated.model == "gpt-4o"
    assert updated.metadata == {"c": "3"}, "metadata is replaced as a whole"
    assert [tool.type for tool in updated.tools] == ["function"]
    assert client.beta.assistants.retrieve(created.id).model_dump() == updated.model_dump()

    cleared = client.beta.assistants.update(created.id, name=None)  # type: ignore[arg-type]
    assert cleared.name is None
    assert cleared.instructions == "keep me"


def test_delete_then_gone(client: openai.OpenAI) -> None:
    created = client.beta.assistants.create(model="gpt-4o")
    deleted = client.beta.assistants.delete(created.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (
        created.id,
        "assistant.deleted",
        True,
    )
    with pytest.raises(openai.NotFoundError) as info:
        client.beta.assistants.retrieve(created.id)
    assert info.value.body == {  # type: ignore[comparison-overlap]
        "message": f"No assistant found with id '{created.id}'.",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    with pytest.raises(openai.NotFoundError):
        client.beta.assistants.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        client.beta.assistants.update(created.id, name="x")


@pytest.mark.parametrize(
    ("body", "param", "fragment"),
    [
        ({}, "model", "Missing required parameter: 'model'"),
        ({"model": 5}, "model", "expected a string, but got an integer"),
        ({"model": "m", "bogus": 1}, "bogus", "Unrecognized request argument supplied: bogus"),
        ({"model": "m", "name": "n" * 257}, "name", "maximum length 256"),
        ({"model": "m", "description": "d" * 513}, "description", "maximum length 512"),
        ({"model": "m", "instructions": "i" * 256_001}, "instructions", "maximum length 256000"),
        (
            {"model": "m", "metadata": {f"k{i}": "v" for i in range(17)}},
            "metadata",
            "at most 16 properties",
        ),
        ({"model": "m", "metadata": {"k" * 65: "v"}}, "metadata", "maximum length 64"),
        ({"model": "m", "metadata": {"k": "v" * 513}}, "metadata", "maximum length 512"),
        ({"model": "m", "metadata": {"k": 1}}, "metadata.k", "expected a string"),
        ({"model": "m", "temperature": 2.5}, "temperature", "<= 2"),
        ({"model": "m", "top_p": -0.1}, "top_p", ">= 0"),
        ({"model": "m", "tools": [{"type": "browser"}]}, "tools[0].type", "'browser'"),
        (
            {"model": "m", "tools": [{"type": "function", "function": {"name": "has space"}}]},
            "tools[0].function.name",
            "does not match pattern",
        ),
        (
            {"model": "m", "tools": [{"type": "function"}]},
            "tools[0].function",
            "Missing required parameter",
        ),
        ({"model": "m", "tools": [FUNCTION, FUNCTION]}, "tools", "more than once"),
        (
            {"model": "m", "tools": [{"type": "code_interpreter"}] * 129},
            "tools",
            "maximum length 128",
        ),
        (
            {"model": "m", "tool_resources": {"code_interpreter": {"file_ids": ["x"]}}},
            "tool_resources.code_interpreter.file_ids[0]",
            "pattern",
        ),
        (
            {"model": "m", "tool_resources": {"code_interpreter": {"file_ids": ["file-a"] * 21}}},
            "tool_resources.code_interpreter.file_ids",
            "maximum length 20",
        ),
        (
            {
                "model": "m",
                "tool_resources": {"file_search": {"vector_store_ids": ["vs_a", "vs_b"]}},
            },
            "tool_resources.file_search.vector_store_ids",
            "maximum length 1",
        ),
        (
            {
                "model": "m",
                "tools": [{"type": "file_search", "file_search": {"max_num_results": 51}}],
            },
            "tools[0].file_search.max_num_results",
            "<= 50",
        ),
        ({"model": "m", "response_format": {"type": "xml"}}, "response_format.type", "'xml'"),
        ({"model": "m", "reasoning_effort": "extreme"}, "reasoning_effort", "'extreme'"),
    ],
)
def test_invalid_create_is_400_and_stores_nothing(
    server: ServerProcess, body: dict[str, object], param: str, fragment: str
) -> None:
    with http(server) as api:
        before = api.get("assistants", params={"limit": 1}).json()["first_id"]
        response = api.post("assistants", json=body)
        after = api.get("assistants", params={"limit": 1}).json()["first_id"]
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert fragment in error["message"]
    assert before == after, "a rejected request must not store anything"


def test_update_rejects_null_model(client: openai.OpenAI) -> None:
    created = client.beta.assistants.create(model="gpt-4o")
    with pytest.raises(openai.BadRequestError) as info:
        client.beta.assistants.update(created.id, model=None)  # type: ignore[arg-type]
    assert info.value.param == "model"
    assert client.beta.assistants.retrieve(created.id).model == "gpt-4o"


def test_list_pages_in_both_orders(server: ServerProcess) -> None:
    # A fresh project-less view: use a dedicated marker in names to find our own assistants.
    from tests.conftest import sdk_client

    client = sdk_client(server)
    ids = [client.beta.assistants.create(model="m", name=f"page-{i}").id for i in range(7)]

    newest_first = client.beta.assistants.list(limit=3)
    assert [a.id for a in newest_first.data] == ids[::-1][:3]
    assert newest_first.has_more is True
    assert newest_first.first_id == ids[6]
    assert newest_first.last_id == ids[4]

    second = client.beta.assistants.list(limit=3, after=newest_first.last_id)
    assert [a.id for a in second.data] == [ids[3], ids[2], ids[1]]

    back = client.beta.assistants.list(limit=2, before=second.first_id)
    assert [a.id for a in back.data] == [ids[5], ids[4]]

    oldest_first = client.beta.assistants.list(limit=2, order="asc", after=ids[2])
    assert [a.id for a in oldest_first.data] == [ids[3], ids[4]]

    walked = [a.id for a in client.beta.assistants.list(limit=2, order="asc", after=ids[0])]
    assert walked[:6] == ids[1:], "auto-pagination follows `after` until has_more is false"


def test_list_parameter_errors(server: ServerProcess) -> None:
    with http(server) as api:
        for params, param in [
            ({"limit": "0"}, "limit"),
            ({"limit": "101"}, "limit"),
            ({"limit": "ten"}, "limit"),
            ({"order": "sideways"}, "order"),
            ({"after": "asst_doesnotexist"}, "after"),
            ({"colour": "red"}, "colour"),
        ]:
            response = api.get("assistants", params=params)
            assert response.status_code == 400, (params, response.text)
            assert error_of(response)["param"] == param
