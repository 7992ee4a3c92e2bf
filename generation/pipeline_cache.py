"""Per-worker cache of loaded diffusers pipelines: load once, reuse across takes, evict the least
recently used when more would not fit.

Loading a video pipeline takes far longer than a short render, so a GPU worker keeps the last
pipelines it used. The cache is created lazily, in the process that first asks for it, so a Celery
prefork parent never holds CUDA state that its children would inherit through fork.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
from collections import Counter, OrderedDict
from typing import Any, Callable, Hashable

MAX_PIPELINES_ENV = "CONTINUITY_MAX_PIPELINES"
DEFAULT_MAX_PIPELINES = 1


class PipelineCache:
    """An LRU of loaded pipelines keyed by a tuple (e.g. pipeline class, weights folder, device).

    One lock guards the whole cache, loading included: a worker renders one take at a time, and
    serialising loads means two threads asking for the same key load it once, and a second model is
    never loaded while the first is still being evicted from GPU memory.
    """

    def __init__(self, max_pipelines: int = DEFAULT_MAX_PIPELINES):
        if max_pipelines < 1:
            raise ValueError(f"max_pipelines must be at least 1, got {max_pipelines}")
        self.max_pipelines = max_pipelines
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._loads: Counter = Counter()
        self._evictions = 0
        self._lock = threading.Lock()

    def get(self, key: tuple, loader: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
            # Make room first: the old pipeline must leave GPU memory before the new one arrives.
            self._evict_down_to(self.max_pipelines - 1)
            pipeline = loader()
            self._entries[key] = pipeline
            self._loads[key] += 1
            return pipeline

    def __contains__(self, key: tuple) -> bool:
        with self._lock:
            return key in self._entries

    def clear(self) -> None:
        with self._lock:
            self._evict_down_to(0)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "loads": dict(self._loads),
                "total_loads": sum(self._loads.values()),
                "evictions": self._evictions,
                "cached": list(self._entries),
                "max_pipelines": self.max_pipelines,
            }

    def _evict_down_to(self, size: int) -> None:
        evicted = False
        while len(self._entries) > max(size, 0):
            _key, pipeline = self._entries.popitem(last=False)
            del pipeline
            self._evictions += 1
            evicted = True
        if evicted:
            release_freed_memory()


def release_freed_memory() -> None:
    """Return memory of dropped pipelines now rather than at the next allocation."""
    gc.collect()
    torch = sys.modules.get("torch")  # never import torch just to clean up after it
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


_cache: PipelineCache | None = None
_cache_pid: int | None = None
_cache_lock = threading.Lock()


def get_cache() -> PipelineCache:
    """The cache of this process, created on first use and sized from CONTINUITY_MAX_PIPELINES.

    A child forked from a process that already had a cache gets a fresh one: pipelines (and CUDA
    contexts) do not survive fork.
    """
    global _cache, _cache_pid
    with _cache_lock:
        if _cache is None or _cache_pid != os.getpid():
            _cache = PipelineCache(max_pipelines_from_env())
            _cache_pid = os.getpid()
        return _cache


def reset_cache() -> None:
    """Drop this process's cache (tests; or a worker that wants its GPU memory back)."""
    global _cache, _cache_pid
    with _cache_lock:
        if _cache is not None and _cache_pid == os.getpid():
            _cache.clear()
        _cache = None
        _cache_pid = None


def max_pipelines_from_env() -> int:
    raw = os.environ.get(MAX_PIPELINES_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_PIPELINES
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{MAX_PIPELINES_ENV} must be a whole number, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"{MAX_PIPELINES_ENV} must be at least 1, got {value}")
    return value
