"""Fixtures shared by every test: real servers on SQLite and PostgreSQL, SDK clients."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import openai
import pytest

from tests.support.postgres import PostgresCluster, postgres_cluster
from tests.support.server import ServerProcess
from tests.support.upstream import ScriptedUpstream

BACKENDS = ["sqlite", "postgres"]

warnings.filterwarnings("ignore", category=DeprecationWarning, module="openai")


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresCluster]:
    with postgres_cluster(tmp_path_factory.mktemp("pg")) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def upstream() -> Iterator[ScriptedUpstream]:
    """The scripted model every test server talks to (a real HTTP server on loopback)."""
    with ScriptedUpstream() as scripted:
        yield scripted


@pytest.fixture
def model(upstream: ScriptedUpstream) -> ScriptedUpstream:
    """The scripted model, emptied of earlier tests' replies and recorded requests."""
    upstream.reset()
    return upstream


def upstream_env(upstream: ScriptedUpstream) -> dict[str, str]:
    return {
        "ASSISTANTD_UPSTREAM_BASE_URL": upstream.base_url,
        "ASSISTANTD_UPSTREAM_API_KEY": "sk-upstream",
        "ASSISTANTD_UPSTREAM_RETRY_BASE_SECONDS": "0.01",
        "ASSISTANTD_UPSTREAM_TIMEOUT_SECONDS": "10",
        "ASSISTANTD_POLL_AFTER_MS": "25",
        "ASSISTANTD_JOB_POLL_SECONDS": "0.2",
    }


ServerFactory = Callable[..., ServerProcess]


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def make_server(
    backend: str,
    upstream: ScriptedUpstream,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServerFactory]:
    """Build (not start) servers on this session's backend, each with a fresh database and
    the scripted model as its upstream (unless `with_upstream=False`)."""
    made: list[ServerProcess] = []

    def factory(env: dict[str, str] | None = None, with_upstream: bool = True) -> ServerProcess:
        data_dir = tmp_path_factory.mktemp(f"server-{backend}")
        url = None
        if backend == "postgres":
            cluster: PostgresCluster = request.getfixturevalue("postgres")
            url = cluster.new_database()
        settings = upstream_env(upstream) if with_upstream else {}
        settings.update(env or {})
        server = ServerProcess(data_dir=data_dir, database_url=url, env=settings)
        made.append(server)
        return server

    yield factory
    for server in made:
        server.stop()


@pytest.fixture(scope="session")
def server(make_server: ServerFactory) -> ServerProcess:
    """One server per backend shared by tests that only create their own objects."""
    return make_server().start()


def sdk_client(server: ServerProcess, api_key: str = "sk-test") -> openai.OpenAI:
    client = openai.OpenAI(base_url=server.base_url, api_key=api_key, max_retries=0, timeout=30)
    if not hasattr(client, "vector_stores"):
        # SDKs before 1.66 have vector stores under `beta` only (same wire paths): the tests
        # use the newer name on every SDK line.
        client.vector_stores = client.beta.vector_stores  # type: ignore[attr-defined]
    return client


@pytest.fixture
def client(server: ServerProcess) -> openai.OpenAI:
    return sdk_client(server)


def pytest_report_header() -> str:
    return f"openai SDK {openai.__version__}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        folder = Path(str(item.fspath)).parent.name
        if folder == "contract":
            item.add_marker(pytest.mark.contract)
        elif folder == "abuse":
            item.add_marker(pytest.mark.abuse)
