"""What the render runner tells a backend beyond the request, and hears back, for one render:
how to report a pipeline load ("loading model… 40%"), whether to use the low-memory fallback after
an out-of-memory, and how many seconds the model call itself took (the GPU seconds a project's
budget counts). Pure Python: no Django, no torch unless a backend already imported it.

The runner (generation/render.py) opens a `RenderRuntime` for the duration of one render; backends
read it with `current()`, so the Backend protocol (render(request, on_progress)) stays as it is.
A worker renders one take at a time, so a context variable is enough.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

# on_load(fraction 0..1, what) while a pipeline loads; may raise RenderCancelled.
LoadCallback = Callable[[float, str], None]

# The documented fallback after an out-of-memory (DESIGN.md, README "Workers"): VAE tiling (decode
# the video in tiles), model CPU offload on CUDA (keep only the running component on the GPU), and
# attention slicing where the pipeline has it. Same frames, same size: the clip is the one asked
# for, only slower. Fewer frames would change the shot, so it is never done silently.
LOW_MEMORY_FALLBACK = "VAE tiling and model CPU offload"


@dataclass
class RenderRuntime:
    on_load: LoadCallback | None = None
    low_memory: bool = False
    gpu_seconds: float = 0.0
    loaded: dict[str, Any] = field(default_factory=dict)  # what the backend loaded: backend, model

    def report_load(self, fraction: float, what: str) -> None:
        if self.on_load is not None:
            self.on_load(max(0.0, min(1.0, fraction)), what)

    @contextmanager
    def model_call(self) -> Iterator[None]:
        """Count the seconds spent inside the model call, also when it fails."""
        started = time.monotonic()
        try:
            yield
        finally:
            self.gpu_seconds += time.monotonic() - started


_current: ContextVar[RenderRuntime | None] = ContextVar("continuity_render_runtime", default=None)


def current() -> RenderRuntime:
    """The runtime of the render in progress, or a detached one (a backend called directly)."""
    return _current.get() or RenderRuntime()


@contextmanager
def active(runtime: RenderRuntime) -> Iterator[RenderRuntime]:
    token = _current.set(runtime)
    try:
        yield runtime
    finally:
        _current.reset(token)


def is_out_of_memory(error: BaseException) -> bool:
    """torch.OutOfMemoryError (CUDA or other accelerators) or Python's MemoryError."""
    if isinstance(error, MemoryError):
        return True
    torch = sys.modules.get("torch")  # never import torch to ask
    oom = getattr(torch, "OutOfMemoryError", None) if torch is not None else None
    return oom is not None and isinstance(error, oom)


def device_memory() -> dict[str, Any] | None:
    """GPU memory of this process (torch.cuda), or None where there is no CUDA device or torch was
    never imported here (the web process, an animatic worker): the page then says n/a."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return None
    free, total = torch.cuda.mem_get_info()
    return {"allocated": int(torch.cuda.memory_allocated()), "reserved": int(torch.cuda.memory_reserved()),
            "free": int(free), "total": int(total), "device": torch.cuda.get_device_name()}
