"""Where uploads wait on disk for their job: under the data directory, one folder a process.

An upload is a user's document, so it must not outlive its job in /tmp after a crash.
Each process keeps its spooled files in its own folder, holding an exclusive lock on a
file in it for as long as it lives; the kernel drops the lock when the process dies,
however it dies. A starting process removes every folder whose lock it can take: those
of dead processes, never those of a live server sharing the data directory.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

log = logging.getLogger(__name__)
LOCK_NAME = ".owner.lock"


@dataclass(frozen=True)
class Upload:
    """A file a client sent: the name it gave, its declared type, its bytes (on disk)."""

    name: str
    media_type: str | None
    stream: BinaryIO


class SpoolDir:
    """This process's folder of spooled uploads under root."""

    def __init__(self, root: Path, owner: str):
        self.root = root
        self.path = root / owner
        self._lock: IO[bytes] | None = None

    def open(self) -> None:
        """Create and lock this process's folder (once)."""
        if self._lock is not None:
            return
        # Locked before it gets its name, so a sweeping process never sees it unlocked.
        new = self.root / f".new-{self.path.name}"
        new.mkdir(parents=True, exist_ok=True)
        self._lock = (new / LOCK_NAME).open("wb")
        fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        new.rename(self.path)

    def new_file(self) -> IO[bytes]:
        """An empty file in this process's folder, open for writing; the caller deletes it."""
        self.open()
        return tempfile.NamedTemporaryFile(prefix="upload-", dir=self.path, delete=False)

    def sweep(self) -> list[Path]:
        """Remove the folders that dead processes left behind; returns them."""
        if not self.root.is_dir():
            return []
        removed = []
        for folder in self.root.iterdir():
            if folder.name.startswith(".") or folder == self.path or not folder.is_dir():
                continue
            if not _abandoned(folder):
                continue
            shutil.rmtree(folder, ignore_errors=True)
            log.info("removed uploads left by a stopped server: %s", folder)
            removed.append(folder)
        return removed

    def close(self) -> None:
        """Remove this process's folder and what is left in it."""
        if self._lock is None:
            return
        shutil.rmtree(self.path, ignore_errors=True)
        self._lock.close()
        self._lock = None


def _abandoned(folder: Path) -> bool:
    """True when no live process holds the folder's lock (or it has none)."""
    try:
        fd = os.open(folder / LOCK_NAME, os.O_RDWR)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing also releases a lock we took
    return True
