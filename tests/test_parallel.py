"""Work spread over threads and over two processes gives the serial result."""

from __future__ import annotations

import os
import time

import pytest

from workspace_tasks import archive, cache, cleanup, parallel
from workspace_tasks.cleanup import CleanupTarget, execute_plan, plan_cleanup
from workspace_tasks.health.survey import survey_workspace

DAY = 86400
FOLDERS = 2 * parallel.SPLIT_AT

needs_fork = pytest.mark.skipif(
    not hasattr(os, "fork") or (os.cpu_count() or 1) < 2,
    reason="splits only with fork and two cores",
)


def _many_folders(root, old_every: int = 2) -> int:
    """Fill ``root`` with FOLDERS folders of files, every other one old."""
    old = time.time() - 40 * DAY
    count = 0
    for number in range(FOLDERS):
        folder = root / f"region-{number:02d}" / "inner"
        folder.mkdir(parents=True)
        for index in range(5):
            path = folder / f"entry-{index}.json"
            path.write_bytes(b"x" * (index + 1))
            if index % old_every == 0:
                os.utime(path, (old, old))
                count += 1
        if old_every == 1:  # all old: the folders too, so that they go
            os.utime(folder, (old, old))
            os.utime(folder.parent, (old, old))
    return count


@needs_fork
def test_two_processes_return_each_half_in_order():
    items = list(range(parallel.SPLIT_AT * 2))

    halves = parallel.in_two_processes(lambda part: [i * i for i in part], items)

    assert len(halves) == 2
    assert halves[0] + halves[1] == [i * i for i in items]


def test_few_items_stay_in_this_process():
    pid = os.getpid()

    results = parallel.in_two_processes(lambda part: os.getpid(), [1, 2, 3])

    assert results == [pid]


def test_thread_batches_keep_their_order_and_raise_the_first_error():
    with parallel.Batches(lambda batch: sum(batch), workers=3) as pool:
        done = []
        for start in range(0, 100, 10):
            done += pool.submit(list(range(start, start + 10)))
        done += pool.finish()
    assert done == [sum(range(s, s + 10)) for s in range(0, 100, 10)]

    def fail(batch):
        raise ValueError(batch)

    with (
        pytest.raises(ValueError),
        parallel.Batches(fail, workers=2) as pool,
    ):
        pool.submit([1])
        pool.finish()


@pytest.fixture
def split_early(monkeypatch):
    """Split per-file work between processes from a few files on."""
    monkeypatch.setattr(cleanup, "SPLIT_FILES", 2)
    monkeypatch.setattr(archive, "SPLIT_FILES", 2)


@needs_fork
def test_split_cleanup_removes_exactly_the_old_files(tmp_path, split_early):
    root = tmp_path / "cache"
    old = _many_folders(root)
    plan = plan_cleanup([CleanupTarget(root, "cache")], [root], 30 * DAY)

    result = execute_plan(plan)

    left = sorted(p.name for p in root.rglob("*.json"))
    assert len(result.removed) == old
    assert len(left) == FOLDERS * 5 - old
    assert all(name in ("entry-1.json", "entry-3.json") for name in left)


@needs_fork
def test_split_cleanup_removes_emptied_folders_after_their_files(tmp_path, split_early):
    root = tmp_path / "cache"
    _many_folders(root, old_every=1)
    plan = plan_cleanup([CleanupTarget(root, "cache")], [root], 30 * DAY)

    result = execute_plan(plan)

    assert not result.skipped
    assert list(root.iterdir()) == []


@needs_fork
def test_split_cache_stats_count_every_file(workspace):
    folder = workspace.cache_dir / "providers"
    old = _many_folders(folder)

    stats = cache._type_stats(folder, "providers", time.time() - DAY)

    assert stats.files == FOLDERS * 5
    assert stats.bytes == FOLDERS * (1 + 2 + 3 + 4 + 5)
    assert stats.expired == old


@needs_fork
def test_split_survey_counts_the_whole_cache(workspace):
    _many_folders(workspace.cache_dir / "providers")

    survey = survey_workspace(workspace)

    assert survey.areas["cache"].files == FOLDERS * 5
    assert survey.areas["cache"].bytes == FOLDERS * (1 + 2 + 3 + 4 + 5)


@needs_fork
def test_split_hashing_gives_each_file_its_own_digest(tmp_path, split_early):
    _many_folders(tmp_path / "tree")
    entries, _ = archive.scan_tree(tmp_path, ["tree"])

    archive.hash_entries(tmp_path, entries)

    files = [e for e in entries if e.type == "file"]
    assert len(files) == FOLDERS * 5
    for entry in files:
        assert entry.sha256 == archive.file_sha256(tmp_path / entry.path)
