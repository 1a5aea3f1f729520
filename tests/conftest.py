"""Fixtures shared by every test: real servers on SQLite and PostgreSQL, SDK clients."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import openai
import pytest

from tests.support.postgres import PostgresCluster, postgres_cluster
from tests.support.server import ServerProcess

BACKENDS = ["sqlite", "postgres"]

warnings.filterwarnings("ignore", category=DeprecationWarning, module="openai")


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresCluster]:
    with postgres_cluster(tmp_path_factory.mktemp("pg")) as cluster:
        yield cluster


ServerFactory = Callable[..., ServerProcess]


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def make_server(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerFactory]:
    """Build (not start) servers on this session's backend, each with a fresh database."""
    made: list[ServerProcess] = []

    def factory(env: dict[str, str] | None = None) -> ServerProcess:
        data_dir = tmp_path_factory.mktemp(f"server-{backend}")
        url = None
        if backend == "postgres":
            cluster: PostgresCluster = request.getfixturevalue("postgres")
            url = cluster.new_database()
        server = ServerProcess(data_dir=data_dir, database_url=url, env=env or {})
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
    return openai.OpenAI(base_url=server.base_url, api_key=api_key, max_retries=0, timeout=30)


@pytest.fixture
def client(server: ServerProcess) -> openai.OpenAI:
    return sdk_client(server)


def pytest_report_header() -> str:
    return f"openai SDK {openai.__version__}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).parent.name == "contract":
            item.add_marker(pytest.mark.contract)
