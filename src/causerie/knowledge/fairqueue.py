"""A few worker threads that serve owners in turn, one task per owner at a time.

With one first-in-first-out worker, one user's slow URL or fifty uploads made every other
user wait behind them. Here each owner has their own queue; a free worker takes the next
task of the owner who has waited longest and has nothing running, so a user's jobs run
one after the other while other users' jobs run beside them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

Task = tuple[Future[Any], Callable[[], Any]]


class FairQueue:
    """Runs submitted callables on up to `workers` threads, owners taken round-robin."""

    def __init__(self, workers: int, name: str):
        self.workers = workers
        self.name = name
        self._cond = threading.Condition()
        self._waiting: OrderedDict[str, deque[Task]] = OrderedDict()  # longest waiting first
        self._running: set[str] = set()  # owners with a task on a worker
        self._threads: list[threading.Thread] = []
        self._closed = False

    def submit(self, owner: str, fn: Callable[[], Any]) -> Future[Any]:
        """Queue fn for owner; its future ends with fn's result."""
        future: Future[Any] = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("the queue is shut down")
            self._waiting.setdefault(owner, deque()).append((future, fn))
            if len(self._threads) < self.workers:
                thread = threading.Thread(
                    target=self._work, name=f"{self.name}-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
            self._cond.notify()
        return future

    def _take(self) -> tuple[str, Task] | None:
        # Called with the condition held.
        for owner, tasks in self._waiting.items():
            if owner in self._running:
                continue
            task = tasks.popleft()
            if tasks:
                self._waiting.move_to_end(owner)  # their next task waits for the others
            else:
                del self._waiting[owner]
            self._running.add(owner)
            return owner, task
        return None

    def _work(self) -> None:
        while True:
            with self._cond:
                while (taken := self._take()) is None:
                    if self._closed:
                        return
                    self._cond.wait()
            owner, (future, fn) = taken
            try:
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(fn())
                    except BaseException as exc:  # the future carries it to its reader
                        future.set_exception(exc)
            finally:
                with self._cond:
                    self._running.discard(owner)
                    self._cond.notify_all()

    def shutdown(self) -> None:
        """Drop what has not started, wait for what runs."""
        with self._cond:
            self._closed = True
            for tasks in self._waiting.values():
                for future, _ in tasks:
                    future.cancel()
            self._waiting.clear()
            self._cond.notify_all()
            threads, self._threads = self._threads, []
        for thread in threads:
            thread.join()
