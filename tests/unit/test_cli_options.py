"""The CLI's options: help naming each ASSISTANTD_* variable and default, `serve --log-level`,
and the order in which a flag, a variable, the TOML file and the default win."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.main import get_command
from typer.testing import CliRunner

from assistantd.cli import app
from assistantd.settings import load_settings

# Options that are not settings: they have no variable (the key's project and label).
# --python: sandbox install's; --no-workers: serve's role, not a setting
NOT_SETTINGS = {"--project", "--name", "--help", "--python", "--no-workers"}


@pytest.fixture(autouse=True)
def no_ambient_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("ASSISTANTD_"):
            monkeypatch.delenv(name)


def flat(text: str) -> str:
    """Help as words, however the terminal's width wrapped it."""
    return " ".join(text.split())


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "80", **(env or {})})
    return result.exit_code, flat(result.output)


def test_serve_help_names_each_variable_and_default() -> None:
    code, text = invoke("serve", "--help")
    assert code == 0, text
    for option, variable, default in [
        ("--host", "ASSISTANTD_HOST", "127.0.0.1"),
        ("--port", "ASSISTANTD_PORT", "8000"),
        ("--data-dir", "ASSISTANTD_DATA_DIR", ".assistantd"),
        ("--database-url", "ASSISTANTD_DATABASE_URL", "a SQLite file in the data dir"),
        ("--insecure-no-auth", "ASSISTANTD_INSECURE_NO_AUTH", "False"),
        ("--log-level", "ASSISTANTD_LOG_LEVEL", "info"),
    ]:
        assert f"{option} " in text
        assert f"[env var: {variable}; default: ({default})" in text, variable
    assert "--log-level LEVEL debug, info, warning or error (any case)" in text
    assert "--no-insecure-no-auth" not in text


def test_every_option_of_every_command_shows_its_variable_and_default() -> None:
    root = get_command(app)
    checked = 0
    groups = [root]
    while groups:
        group = groups.pop()
        for command in getattr(group, "commands", {}).values():
            if hasattr(command, "commands"):
                groups.append(command)
                continue
            for param in command.params:
                option = param.opts[0]
                if not option.startswith("--") or option in NOT_SETTINGS:
                    continue
                variable = "ASSISTANTD_" + option[2:].replace("-", "_").upper()
                assert param.envvar == variable, (command.name, option)
                assert isinstance(param.show_default, str), option
                assert param.show_default, option
                checked += 1
    # serve's six; data dir and database URL of four others; worker's two and its log level
    assert checked == 6 + 2 * 4 + 3


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--log-level", "nonsense"], {}),
        ([], {"ASSISTANTD_LOG_LEVEL": "nonsense"}),
    ],
)
def test_invalid_log_level_is_a_usage_error(args: list[str], env: dict[str, str]) -> None:
    code, text = invoke("serve", *args, env=env)
    assert code == 2
    assert "Invalid value for '--log-level'" in text
    assert "'nonsense' is not one of 'debug', 'info', 'warning', 'error'." in text


def test_log_level_setting_takes_any_case_and_rejects_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_settings().log_level == "info"
    assert load_settings(log_level="WARNING").log_level == "warning"
    config = tmp_path / "assistantd.toml"
    config.write_text('log_level = "DEBUG"\n')
    monkeypatch.setenv("ASSISTANTD_CONFIG", str(config))
    assert load_settings().log_level == "debug"
    config.write_text('log_level = "trace"\n')
    with pytest.raises(ValidationError, match="log_level"):
        load_settings()


def test_a_flag_beats_its_variable_which_beats_the_file_which_beats_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`db upgrade` creates the SQLite file in the data dir that won."""
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "assistantd.toml"
    config.write_text(f'data_dir = "{tmp_path / "from-file"}"\n')
    flag, variable = str(tmp_path / "from-flag"), str(tmp_path / "from-variable")
    both = {"ASSISTANTD_CONFIG": str(config), "ASSISTANTD_DATA_DIR": variable}
    cases = [
        (["--data-dir", flag], both, "from-flag"),
        ([], both, "from-variable"),
        ([], {"ASSISTANTD_CONFIG": str(config)}, "from-file"),
        ([], {}, ".assistantd"),
    ]
    for args, env, winner in cases:
        code, text = invoke("db", "upgrade", *args, env=env)
        assert code == 0, text
        assert (tmp_path / winner / "assistantd.sqlite3").is_file(), (winner, text)
    made = sorted(path.parent.name for path in tmp_path.glob("*/assistantd.sqlite3"))
    assert made == [".assistantd", "from-file", "from-flag", "from-variable"]
