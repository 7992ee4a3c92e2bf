"""Fixtures the studio tests share, on top of tests/conftest.py's project (alice owner, bob editor,
carol reviewer, dave viewer, eve outsider), scene and cast: a shot that casts @mara on the @deck,
and a finished take of it with real files. A test file that needs another shot overrides `shot`."""

from __future__ import annotations

import pytest

from studio.services.shots import shot_create
from tests.studio.views_helpers import finished_take


@pytest.fixture
def shot(scene, cast, alice):
    return shot_create(scene=scene, actor=alice, prompt="@mara looks out over the @deck", code="1A")


@pytest.fixture
def take(shot):
    return finished_take(shot, frames=48)
