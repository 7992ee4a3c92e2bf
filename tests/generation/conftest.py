"""The media tests run once per ffmpeg the engine can be set to use (CONTINUITY_FFMPEG): the
imageio-ffmpeg wheel's always, the system's (Debian's) where installed; in CI both must be there."""

from __future__ import annotations

import shutil

import pytest

from generation.ffmpeg import BINARY_SETTING, BUNDLED, SYSTEM
from tests.conftest import require


@pytest.fixture(scope="module", params=[BUNDLED, SYSTEM])
def ffmpeg_choice(request):
    """Module-scoped, so module-scoped media fixtures are made by the binary under test."""
    if request.param == SYSTEM:
        require(shutil.which("ffmpeg") is not None, "a system ffmpeg on PATH (Debian: apt-get install ffmpeg)")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(BINARY_SETTING, request.param)
        yield request.param
