"""Run many small file-system calls on a few threads, in bounded batches.

System calls release the interpreter lock, and on a tree of many small files
a backup, a restore or a cleanup spends most of its time in them (creating
folders, opening, writing, removing). A few threads keep the kernel busy on
every core while Python prepares the next calls. Work goes out in batches,
with a bound on how many are in flight, so memory stays flat whatever the
size of the tree.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# More threads than cores: much of each call is waiting on the file system.
WORKERS = min(4, 2 * (os.cpu_count() or 1))
# Below this many items the threads cost more than they save.
SERIAL_BELOW = 64


class Batches(Generic[T, R]):
    """Run ``action`` on each submitted batch on a few threads.

    At most ``in_flight`` batches wait or run at once: :meth:`submit` blocks
    (returning the oldest result) until there is room. Results come back in
    the order the batches went in; the first error is raised in the caller's
    thread. Use it as a context manager: leaving it waits for every batch.
    """

    def __init__(
        self,
        action: Callable[[T], R],
        workers: int | None = None,
        in_flight: int | None = None,
    ) -> None:
        workers = workers or WORKERS
        self._action = action
        self._pool = ThreadPoolExecutor(max_workers=workers) if workers > 1 else None
        self._limit = in_flight or 2 * workers
        self._pending: collections.deque[Future[R]] = collections.deque()

    def __enter__(self) -> Batches[T, R]:
        return self

    def __exit__(self, kind, error, trace) -> None:
        if self._pool is None:
            return
        if error is not None:
            for future in self._pending:
                future.cancel()
            self._pool.shutdown(wait=True)
            return
        try:
            self.finish()
        finally:
            self._pool.shutdown(wait=True)

    def submit(self, batch: T) -> list[R]:
        """Hand ``batch`` to a thread; return the results that came back."""
        if self._pool is None:
            return [self._action(batch)]
        self._pending.append(self._pool.submit(self._action, batch))
        done = []
        while len(self._pending) > self._limit or (
            self._pending and self._pending[0].done()
        ):
            done.append(self._pending.popleft().result())
        return done

    def finish(self) -> list[R]:
        """Wait for every batch still in flight; return their results."""
        done = []
        while self._pending:
            done.append(self._pending.popleft().result())
        return done


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Yield ``items`` in slices of ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def run_all(
    action: Callable[[Sequence[T]], Iterable[R]],
    items: Sequence[T],
    batch: int = 256,
) -> list[R]:
    """Run ``action`` on slices of ``items`` on a few threads; join the results.

    The results keep the order of ``items``. Few items run in this thread.
    """
    if len(items) < SERIAL_BELOW or WORKERS == 1:
        return list(action(items))
    size = max(16, min(batch, len(items) // (2 * WORKERS) + 1))
    results: list[R] = []
    with Batches(lambda part: list(action(part))) as pool:
        for part in chunks(items, size):
            for done in pool.submit(part):
                results += done
        for done in pool.finish():
            results += done
    return results
