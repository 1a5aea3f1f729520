"""A server whose default upstream is its own address refuses to start, and says what to do.

The README's client variables (OPENAI_BASE_URL=http://127.0.0.1:8000/v1) left in the shell
that starts the server used to make it call itself for every run (each failing with a 404)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.server import ServerProcess


def serve(server: ServerProcess) -> subprocess.CompletedProcess[str]:
    """`assistantd serve` run to its end (it should refuse at once)."""
    return subprocess.run(
        server.command("serve", "--port", str(server.port), "--host", server.host),
        env=server.environment(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("host", "connect"),
    [("127.0.0.1", "127.0.0.1"), ("0.0.0.0", "localhost")],
)
def test_openai_base_url_at_the_servers_own_port_is_refused(
    tmp_path: Path, host: str, connect: str
) -> None:
    server = ServerProcess(data_dir=tmp_path, host=host)
    own = f"http://{connect}:{server.port}/v1"
    server.env = {"OPENAI_BASE_URL": own, "OPENAI_API_KEY": "sk-client"}
    result = serve(server)
    assert result.returncode == 2, result.stderr[-2000:]
    assert (
        f"OPENAI_BASE_URL points at this server itself ({own}): the server would call "
        "itself for every run. Unset it in this shell (unset OPENAI_BASE_URL) or set "
        "ASSISTANTD_UPSTREAM_BASE_URL to your model's URL."
    ) in result.stderr
    assert not (tmp_path / "assistantd.sqlite3").exists(), "refused before touching the database"
