"""Spread many small file-system calls over the cores.

Two ways, for two kinds of work:

- calls that take long (creating folders and files on a disk): a few
  threads in bounded batches (:class:`Batches`, :func:`run_all`); those
  calls release the interpreter lock, and memory stays flat whatever the
  size of the tree;
- calls that take a microsecond or two (``stat``, ``unlink`` on a tree of
  many small files): threads would queue on the interpreter lock between
  them, so the work is split between this process and a forked child
  (:func:`in_two_processes`).
"""

from __future__ import annotations

import collections
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import Future

log = logging.getLogger(__name__)

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
        from concurrent.futures import ThreadPoolExecutor

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


# Folders of many small files: one process per core, half the work each.
# Threads do not help there, the interpreter lock being held between calls
# that each take a microsecond or two.
SPLIT_AT = 16


def in_two_processes(
    action: Callable[[Sequence[T]], R],
    items: Sequence[T],
    minimum: int = SPLIT_AT,
) -> list[R]:
    """Run ``action`` on each half of ``items``, one half in a forked child.

    Returns the results of the halves in order (one result when the work is
    not split: fewer than ``minimum`` items, one core, no ``fork``, or other
    threads running, which a fork would leave in an unknown state). The
    child's result comes back pickled through a pipe. Should the child
    fail, its half is run here again, so ``action`` must be safe to repeat.
    """
    if (
        len(items) < max(2, minimum)
        or (os.cpu_count() or 1) < 2
        or not hasattr(os, "fork")
        or threading.active_count() > 1
    ):
        return [action(items)]
    import pickle
    import signal

    half = len(items) // 2
    first, second = items[:half], items[half:]
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        code = 1
        try:
            os.close(read_fd)
            with os.fdopen(write_fd, "wb") as out:
                pickle.dump(action(first), out)
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    try:
        mine = action(second)
    except BaseException:
        os.kill(pid, signal.SIGTERM)
        os.close(read_fd)
        os.waitpid(pid, 0)
        raise
    with os.fdopen(read_fd, "rb") as source:
        data = source.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or not data:
        log.warning("a helper process failed (status %d); doing its part here", status)
        return [action(first), mine]
    return [pickle.loads(data), mine]
