"""The JSON files of an export, from a ZIP or a folder, opened as streams (never read whole)."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from causerie.errors import InvalidRequest


@dataclass
class ExportFile:
    name: str
    size: int


class ExportSource:
    """A ZIP of an export or its unzipped folder: list its files, open one as a stream."""

    def __init__(self, path: Path):
        if not path.exists():
            raise InvalidRequest(f"No such file or folder: {path}.")
        self.path = path
        self._zip = zipfile.ZipFile(path) if path.is_file() else None
        if path.is_file() and self._zip is None:
            raise InvalidRequest(f"{path} is not a ZIP file.")
        self.names = self._list()

    def _list(self) -> dict[str, int]:
        if self._zip is not None:
            return {i.filename: i.file_size for i in self._zip.infolist() if not i.is_dir()}
        return {
            str(p.relative_to(self.path)): p.stat().st_size
            for p in self.path.rglob("*")
            if p.is_file()
        }

    def find(self, pattern: str) -> list[ExportFile]:
        """The files whose base name matches pattern, wherever the ZIP nests them, sorted."""
        rx = re.compile(pattern)
        found = [
            ExportFile(n, s) for n, s in self.names.items() if rx.fullmatch(n.rsplit("/", 1)[-1])
        ]
        return sorted(found, key=lambda f: f.name)

    @contextmanager
    def open(self, name: str) -> Iterator[IO[bytes]]:
        raw: IO[bytes] = self._zip.open(name) if self._zip else (self.path / name).open("rb")
        with raw:
            yield io.BufferedReader(raw, 1 << 16) if self._zip else raw  # type: ignore[arg-type]

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()


def open_source(path: Path) -> ExportSource:
    """The export at path; a file that is not a ZIP is refused with a clear error."""
    if path.is_file() and not zipfile.is_zipfile(path):
        raise InvalidRequest(f"{path} is not a ZIP file (give the export's ZIP or its folder).")
    return ExportSource(path)


def first_byte(f: IO[bytes]) -> bytes:
    """The first significant byte of a JSON stream ('[' or '{'), without consuming it."""
    head = f.peek(4096) if hasattr(f, "peek") else b""  # type: ignore[attr-defined]
    return head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
