"""A poison render for the crash tests: its backend kills the worker process running it, the way
an out-of-memory kill or a segfault in a native library would. Never registered outside tests:
tests/e2e/test_crashes.py adds it to the registry of its own worker processes and its own."""

from __future__ import annotations

import os
import signal

from generation.backends.base import RenderRequest, RenderResult
from generation.backends.registry import BackendEntry

NAME = "crash"
REGISTRY_ENTRY = BackendEntry("tests.e2e.poison", "CrashBackend", "kills its own worker process (crash tests only)")


class CrashBackend:
    name = NAME

    def __init__(self, **options):
        pass

    def describe_model(self, request: RenderRequest) -> tuple[str, str]:
        return "crash-test", "1"

    def render(self, request: RenderRequest, on_progress) -> RenderResult:
        on_progress(1, 2)  # the take is visibly running when the process dies
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable: the process was killed")
