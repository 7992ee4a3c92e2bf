"""The test suite's settings: the development settings (DEBUG=1 when the settings load: plain HTTP,
static files from the source tree, a generated key), which pytest-django then runs with DEBUG off.
Production defaults are tested in subprocesses (tests/studio/test_security_settings.py).

Set in the environment, so the servers and workers the tests start get the same settings."""

import os

os.environ.setdefault("DEBUG", "1")

from studio.settings import *  # noqa: E402,F403
