"""The per-worker pipeline cache, with plain objects standing in for pipelines."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

import pytest

from generation import pipeline_cache
from generation.pipeline_cache import PipelineCache, get_cache, reset_cache

REPO_ROOT = Path(__file__).resolve().parents[2]


class FakePipeline:
    def __init__(self, name):
        self.name = name


@pytest.fixture(autouse=True)
def fresh_cache():
    reset_cache()
    yield
    reset_cache()


def test_second_get_reuses_the_loaded_pipeline():
    cache = PipelineCache(max_pipelines=1)
    first = cache.get(("a",), lambda: FakePipeline("a"))
    again = cache.get(("a",), lambda: pytest.fail("loaded twice"))
    assert first is again
    assert cache.stats()["loads"] == {("a",): 1} and cache.stats()["total_loads"] == 1


def test_least_recently_used_is_evicted_and_released():
    cache = PipelineCache(max_pipelines=2)
    a = cache.get(("a",), lambda: FakePipeline("a"))
    released = weakref.ref(a)
    cache.get(("b",), lambda: FakePipeline("b"))
    cache.get(("a",), lambda: FakePipeline("a"))  # a is now the most recent
    del a
    cache.get(("c",), lambda: FakePipeline("c"))  # so b goes
    assert ("b",) not in cache and ("a",) in cache and ("c",) in cache
    cache.get(("d",), lambda: FakePipeline("d"))  # then a
    assert released() is None  # nothing else holds it: its memory is back
    assert cache.stats()["evictions"] == 2


def test_alternating_two_models_with_room_for_one_counts_every_load():
    cache = PipelineCache(max_pipelines=1)
    for key in ("a", "b", "a", "b", "b"):
        cache.get((key,), lambda key=key: FakePipeline(key))
    stats = cache.stats()
    assert stats["loads"] == {("a",): 2, ("b",): 2}
    assert stats["total_loads"] == 4 and stats["evictions"] == 3 and stats["cached"] == [("b",)]


def test_old_pipeline_is_evicted_before_the_new_one_loads():
    cache = PipelineCache(max_pipelines=1)
    cache.get(("a",), lambda: FakePipeline("a"))

    def load_b():
        assert ("a",) not in cache._entries  # GPU memory must be free before the next load
        return FakePipeline("b")

    cache.get(("b",), load_b)


def test_concurrent_gets_of_one_key_load_once():
    cache = PipelineCache(max_pipelines=1)
    started = threading.Barrier(6)
    results = []

    def slow_loader():
        time.sleep(0.05)
        return FakePipeline("a")

    def worker():
        started.wait()
        results.append(cache.get(("a",), slow_loader))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 6 and all(result is results[0] for result in results)
    assert cache.stats()["loads"] == {("a",): 1}


def test_a_failed_load_is_not_cached():
    cache = PipelineCache(max_pipelines=1)
    with pytest.raises(RuntimeError):
        cache.get(("a",), lambda: (_ for _ in ()).throw(RuntimeError("no weights")))
    assert cache.get(("a",), lambda: FakePipeline("a")).name == "a"
    assert cache.stats()["loads"] == {("a",): 1}


def test_get_cache_is_a_process_singleton_sized_from_the_environment(monkeypatch):
    monkeypatch.setenv("CONTINUITY_MAX_PIPELINES", "3")
    assert get_cache() is get_cache()
    assert get_cache().max_pipelines == 3
    reset_cache()
    monkeypatch.delenv("CONTINUITY_MAX_PIPELINES")
    assert get_cache().max_pipelines == 1


@pytest.mark.parametrize("value", ["0", "many"])
def test_bad_max_pipelines_is_a_clear_error(monkeypatch, value):
    monkeypatch.setenv("CONTINUITY_MAX_PIPELINES", value)
    with pytest.raises(ValueError, match="CONTINUITY_MAX_PIPELINES"):
        get_cache()


def test_a_forked_child_gets_its_own_empty_cache():
    get_cache().get(("a",), lambda: FakePipeline("a"))
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report what it sees and leave without running pytest's teardown
        child_stats = get_cache().stats()
        os.write(write, str(child_stats["total_loads"]).encode())
        os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    assert os.read(read, 16) == b"0" and status == 0
    assert get_cache().stats()["total_loads"] == 1


def test_nothing_is_created_at_import():
    code = "import generation.pipeline_cache as c, sys; print(c._cache is None, 'torch' in sys.modules)"
    completed = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["True", "False"]


def test_release_frees_cuda_memory_only_when_torch_is_already_loaded(monkeypatch):
    calls = []

    class FakeCuda:
        @staticmethod
        def is_available():
            return True

        @staticmethod
        def empty_cache():
            calls.append("empty_cache")

    class FakeTorch:
        cuda = FakeCuda

    monkeypatch.setitem(sys.modules, "torch", FakeTorch)
    pipeline_cache.release_freed_memory()
    assert calls == ["empty_cache"]
