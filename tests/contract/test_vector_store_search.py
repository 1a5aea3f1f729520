"""Vector-store search through the real SDK, over five small hand-made documents on distinct
topics: relevance, scores, result limits, score thresholds, attribute filters, query rewriting,
multi-part queries, validation, and expired stores."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import openai
import pytest

from tests.conftest import sdk_client
from tests.support.files import POLL_MS, body, create_batch_with_files, run_sql, upload
from tests.support.openapi import assert_matches_schema
from tests.support.raw import error_of, http
from tests.support.server import ServerProcess

# Every document says "handbook entry": a query for those words finds all five, so a filter's
# result is exactly the set of files it lets through.
DOCUMENTS: dict[str, tuple[str, dict[str, Any]]] = {
    "aviation": (
        "Handbook entry on flight. An aircraft wing stalls when it exceeds the critical angle "
        "of attack and the airflow separates from its upper surface. Pilots recover by "
        "lowering the nose and adding power.",
        {"topic": "aviation", "year": 2019, "rating": 4.5, "public": True, "lang": "en"},
    ),
    "pasta": (
        "Handbook entry on cooking. To cook pasta, bring a large pot of salted water to a "
        "rolling boil, add the spaghetti and stir. Drain it when al dente and toss it with "
        "the tomato sauce.",
        {"topic": "cooking", "year": 2021, "rating": 3, "public": True, "lang": "it"},
    ),
    "tax": (
        "Handbook entry on tax law. Income tax rules allow deductions for charitable "
        "donations and mortgage interest. Capital gains are taxed when an asset is sold, and "
        "returns must be filed before the deadline.",
        {"topic": "law", "year": 2020, "rating": 2.5, "public": False},
    ),
    "python": (
        "Handbook entry on Python programming. A list comprehension builds a list from an "
        "iterable, functions are defined with the def keyword, and exceptions are handled "
        "with try and except blocks.",
        {"topic": "programming", "year": 2023, "rating": 5, "public": True, "lang": "en"},
    ),
    "garden": (
        "Handbook entry on gardening. Plant tomatoes in full sun, water the roots early in "
        "the morning, and work compost into the soil. Prune the roses in late winter.",
        {"topic": "gardening", "year": 2018, "rating": 4, "public": False, "lang": "fr"},
    ),
}
ALL = "handbook entry"


@dataclass(frozen=True)
class Topics:
    store_id: str
    ids: dict[str, str]  # topic -> file id

    def names(self, file_ids: list[str]) -> list[str]:
        by_id = {v: k for k, v in self.ids.items()}
        return [by_id[f] for f in file_ids]


@pytest.fixture(scope="module")
def topics(server: ServerProcess) -> Iterator[Topics]:
    client = sdk_client(server)
    ids = {name: upload(client, f"{name}.txt", text) for name, (text, _) in DOCUMENTS.items()}
    store = client.vector_stores.create(name="topics")
    files: Any = [
        {"file_id": ids[name], "attributes": attrs} for name, (_, attrs) in DOCUMENTS.items()
    ]
    batch = create_batch_with_files(client, store.id, files)
    done = client.vector_stores.file_batches.poll(
        batch.id, vector_store_id=store.id, poll_interval_ms=POLL_MS
    )
    assert done.file_counts.completed == len(DOCUMENTS), done
    yield Topics(store.id, ids)
    client.vector_stores.delete(store.id)


def search(client: openai.OpenAI, topics: Topics, query: Any, **params: Any) -> dict[str, Any]:
    raw = client.vector_stores.with_raw_response.search(topics.store_id, query=query, **params)
    page = body(raw)
    assert_matches_schema(page, "VectorStoreSearchResultsPage")
    return page


def found(client: openai.OpenAI, topics: Topics, query: Any, **params: Any) -> list[str]:
    return topics.names([hit["file_id"] for hit in search(client, topics, query, **params)["data"]])


QUERIES = {
    "aviation": "Why does a plane stall at a high angle of attack?",
    "pasta": "how long should spaghetti boil",
    "tax": "can I deduct charity donations from my income tax",
    "python": "how do I write a list comprehension in Python",
    "garden": "when should I water my tomato plants",
}


@pytest.mark.slow
@pytest.mark.parametrize(("topic", "query"), QUERIES.items(), ids=QUERIES.keys())
def test_the_relevant_document_comes_first(
    client: openai.OpenAI, topics: Topics, topic: str, query: str
) -> None:
    assert found(client, topics, query)[0] == topic


@pytest.mark.slow
def test_result_items_and_scores(client: openai.OpenAI, topics: Topics) -> None:
    page = search(client, topics, ALL, max_num_results=50)
    assert page["object"] == "vector_store.search_results.page"
    assert page["search_query"] == [ALL]
    assert (page["has_more"], page["next_page"]) == (False, None)
    hits = page["data"]
    assert sorted(topics.names([h["file_id"] for h in hits])) == sorted(DOCUMENTS)
    scores = [h["score"] for h in hits]
    assert all(0 <= s <= 1 for s in scores), scores
    assert scores == sorted(scores, reverse=True)
    for hit in hits:
        name = topics.names([hit["file_id"]])[0]
        text, attributes = DOCUMENTS[name]
        assert hit["filename"] == f"{name}.txt"
        assert hit["attributes"] == attributes
        assert hit["content"] == [{"type": "text", "text": text}]
        assert_matches_schema(hit, "VectorStoreSearchResultItem")
    # The SDK's typed view of the same page.
    typed = client.vector_stores.search(topics.store_id, query=ALL, max_num_results=50)
    assert [h.file_id for h in typed.data] == [h["file_id"] for h in hits]
    assert typed.data[0].content[0].text == hits[0]["content"][0]["text"]


@pytest.mark.slow
def test_max_num_results(client: openai.OpenAI, topics: Topics) -> None:
    everything = found(client, topics, ALL, max_num_results=50)
    assert len(everything) == 5
    assert found(client, topics, ALL, max_num_results=1) == everything[:1]
    assert found(client, topics, ALL, max_num_results=3) == everything[:3]
    assert found(client, topics, ALL) == everything, "the default (10) is more than 5"


@pytest.mark.slow
def test_score_threshold(client: openai.OpenAI, topics: Topics) -> None:
    query = QUERIES["aviation"]
    baseline = search(client, topics, query)["data"]
    assert len(baseline) >= 2
    middle = (baseline[0]["score"] + baseline[1]["score"]) / 2
    above = search(client, topics, query, ranking_options={"score_threshold": middle})["data"]
    assert [h["file_id"] for h in above] == [baseline[0]["file_id"]]
    zero = search(client, topics, query, ranking_options={"score_threshold": 0})["data"]
    assert [h["file_id"] for h in zero] == [h["file_id"] for h in baseline]
    strict = search(client, topics, query, ranking_options={"score_threshold": 0.99})["data"]
    assert all(h["score"] >= 0.99 for h in strict)
    assert len(strict) <= 1
    ranked = found(client, topics, query, ranking_options={"ranker": "none"})
    assert ranked[0] == "aviation"
    dated = found(client, topics, query, ranking_options={"ranker": "default-2024-11-15"})
    assert dated[0] == "aviation"


FILTERS: dict[str, tuple[Any, set[str]]] = {
    "eq string": ({"type": "eq", "key": "topic", "value": "cooking"}, {"pasta"}),
    "eq bool": ({"type": "eq", "key": "public", "value": True}, {"aviation", "pasta", "python"}),
    "eq number": ({"type": "eq", "key": "year", "value": 2020}, {"tax"}),
    "eq needs the same type": ({"type": "eq", "key": "year", "value": "2020"}, set()),
    "eq missing key": ({"type": "eq", "key": "colour", "value": "red"}, set()),
    "ne": (
        {"type": "ne", "key": "topic", "value": "law"},
        {"aviation", "pasta", "python", "garden"},
    ),
    "ne counts a missing key": (
        {"type": "ne", "key": "lang", "value": "en"},
        {"pasta", "tax", "garden"},
    ),
    "gt": ({"type": "gt", "key": "year", "value": 2020}, {"pasta", "python"}),
    "gte": ({"type": "gte", "key": "year", "value": 2020}, {"pasta", "tax", "python"}),
    "lt": ({"type": "lt", "key": "rating", "value": 3}, {"tax"}),
    "lte int and float": ({"type": "lte", "key": "rating", "value": 3}, {"pasta", "tax"}),
    "gte float": ({"type": "gte", "key": "rating", "value": 4.5}, {"aviation", "python"}),
    "in": ({"type": "in", "key": "topic", "value": ["law", "gardening"]}, {"tax", "garden"}),
    "in numbers": ({"type": "in", "key": "year", "value": [2018, 2023]}, {"garden", "python"}),
    "nin": ({"type": "nin", "key": "lang", "value": ["en"]}, {"pasta", "tax", "garden"}),
    "and": (
        {
            "type": "and",
            "filters": [
                {"type": "eq", "key": "public", "value": True},
                {"type": "gte", "key": "year", "value": 2020},
            ],
        },
        {"pasta", "python"},
    ),
    "or": (
        {
            "type": "or",
            "filters": [
                {"type": "eq", "key": "topic", "value": "law"},
                {"type": "gte", "key": "rating", "value": 5},
            ],
        },
        {"tax", "python"},
    ),
    "and of or": (
        {
            "type": "and",
            "filters": [
                {
                    "type": "or",
                    "filters": [
                        {"type": "eq", "key": "lang", "value": "en"},
                        {"type": "eq", "key": "lang", "value": "fr"},
                    ],
                },
                {"type": "ne", "key": "topic", "value": "programming"},
            ],
        },
        {"aviation", "garden"},
    ),
    "or of and": (
        {
            "type": "or",
            "filters": [
                {
                    "type": "and",
                    "filters": [
                        {"type": "eq", "key": "public", "value": False},
                        {"type": "lt", "key": "year", "value": 2019},
                    ],
                },
                {"type": "eq", "key": "topic", "value": "cooking"},
            ],
        },
        {"garden", "pasta"},
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", FILTERS.values(), ids=FILTERS.keys())
def test_attribute_filters(
    client: openai.OpenAI, topics: Topics, case: tuple[Any, set[str]]
) -> None:
    filters, expected = case
    assert set(found(client, topics, ALL, filters=filters, max_num_results=50)) == expected


@pytest.mark.slow
def test_rewrite_query_and_query_lists(client: openai.OpenAI, topics: Topics) -> None:
    question = "Can you tell me about cooking pasta?"
    rewritten = search(client, topics, question, rewrite_query=True)
    assert rewritten["search_query"] == ["cooking pasta"]
    assert topics.names([rewritten["data"][0]["file_id"]]) == ["pasta"]
    plain = search(client, topics, question)
    assert plain["search_query"] == [question]

    parts = ["boiling salted water", "spaghetti with tomato sauce"]
    listed = search(client, topics, parts)
    assert listed["search_query"] == parts
    assert topics.names([listed["data"][0]["file_id"]]) == ["pasta"]


SEARCH_ERRORS: dict[str, tuple[dict[str, Any], str]] = {
    "bad filter type": (
        {"query": "x", "filters": {"type": "like", "key": "topic", "value": "law"}},
        "filters.type",
    ),
    "bad nested filter type": (
        {
            "query": "x",
            "filters": {"type": "and", "filters": [{"type": "xx", "key": "a", "value": 1}]},
        },
        "filters.filters[0].type",
    ),
    "filter without key": ({"query": "x", "filters": {"type": "eq", "value": 1}}, "filters.key"),
    "max_num_results 51": ({"query": "x", "max_num_results": 51}, "max_num_results"),
    "max_num_results 0": ({"query": "x", "max_num_results": 0}, "max_num_results"),
    "empty query": ({"query": ""}, "query"),
    "empty query list": ({"query": []}, "query"),
    "eleven queries": ({"query": ["q"] * 11}, "query"),
    "no query": ({}, "query"),
    "threshold above 1": (
        {"query": "x", "ranking_options": {"score_threshold": 1.5}},
        "ranking_options.score_threshold",
    ),
    "unknown ranker": (
        {"query": "x", "ranking_options": {"ranker": "best"}},
        "ranking_options.ranker",
    ),
    "unknown key": ({"query": "x", "top_k": 3}, "top_k"),
}


@pytest.mark.parametrize("case", SEARCH_ERRORS.values(), ids=SEARCH_ERRORS.keys())
def test_bad_search_requests(server: ServerProcess, case: tuple[dict[str, Any], str]) -> None:
    payload, param = case
    with http(server) as api:
        store_id = api.post("vector_stores", json={}).json()["id"]
        response = api.post(f"vector_stores/{store_id}/search", json=payload)
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param


def test_bad_filter_through_the_sdk(client: openai.OpenAI) -> None:
    store = client.vector_stores.create()
    with pytest.raises(openai.BadRequestError) as info:
        client.vector_stores.search(
            store.id,
            query="x",
            filters={"type": "like", "key": "topic", "value": "law"},  # type: ignore[typeddict-item]
        )
    assert info.value.param == "filters.type"
    with pytest.raises(openai.BadRequestError) as info:
        client.vector_stores.search(store.id, query="x", max_num_results=51)
    assert info.value.param == "max_num_results"


MISLEADING_FILTER_ERRORS: dict[str, tuple[dict[str, Any], str]] = {
    "object value": ({"type": "eq", "key": "topic", "value": {"x": 1}}, "filters.value"),
    "empty compound": ({"type": "and", "filters": []}, "filters.filters"),
}


@pytest.mark.parametrize(
    "case", MISLEADING_FILTER_ERRORS.values(), ids=MISLEADING_FILTER_ERRORS.keys()
)
def test_filter_errors_name_the_real_problem(
    server: ServerProcess, case: tuple[dict[str, Any], str]
) -> None:
    filters, param = case
    with http(server) as api:
        store_id = api.post("vector_stores", json={}).json()["id"]
        response = api.post(
            f"vector_stores/{store_id}/search", json={"query": "x", "filters": filters}
        )
    assert response.status_code == 400
    error = error_of(response)
    assert error["param"] == param, error
    assert not error["message"].startswith(f"Invalid value: '{filters['type']}'"), error


def test_empty_store_finds_nothing(client: openai.OpenAI) -> None:
    store = client.vector_stores.create()
    page = body(client.vector_stores.with_raw_response.search(store.id, query="anything"))
    assert page == {
        "object": "vector_store.search_results.page",
        "search_query": ["anything"],
        "data": [],
        "has_more": False,
        "next_page": None,
    }


def test_search_keeps_an_expiring_store_alive(client: openai.OpenAI, server: ServerProcess) -> None:
    store = client.vector_stores.create(expires_after={"anchor": "last_active_at", "days": 2})
    long_ago = store.created_at - 10 * 86_400
    run_sql(
        server,
        "UPDATE vector_stores SET last_active_at = :t, expires_at = :e WHERE id = :id",
        t=long_ago,
        e=long_ago + 2 * 86_400 + 30 * 86_400,  # still in the future
        id=store.id,
    )
    before = int(time.time())
    client.vector_stores.search(store.id, query="anything")
    touched = client.vector_stores.retrieve(store.id)
    assert touched.last_active_at is not None
    assert touched.last_active_at >= before
    assert touched.expires_at == touched.last_active_at + 2 * 86_400


def test_expired_store_cannot_be_searched(client: openai.OpenAI, server: ServerProcess) -> None:
    store = client.vector_stores.create(expires_after={"anchor": "last_active_at", "days": 1})
    assert store.status == "completed"
    # The API's shortest expiry is a day and the server has no test clock: move the deadline
    # into the past in the database instead.
    assert run_sql(
        server, "UPDATE vector_stores SET expires_at = :t WHERE id = :id", t=1, id=store.id
    )
    expired = body(client.vector_stores.with_raw_response.retrieve(store.id))
    assert expired["status"] == "expired"
    assert expired["expires_at"] == 1
    with pytest.raises(openai.BadRequestError) as info:
        client.vector_stores.search(store.id, query="anything")
    assert info.value.code == "vector_store_expired"
    assert info.value.param == "vector_store_id"
    assert client.vector_stores.retrieve(store.id).status == "expired", "a refused search is no use"
    listed = {s.id: s.status for s in client.vector_stores.list(limit=100)}
    assert listed[store.id] == "expired"
