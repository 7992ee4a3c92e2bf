"""The test suite's settings: the development settings (DEBUG=1 when the settings load: plain HTTP,
static files from the source tree, a generated key), which pytest-django then runs with DEBUG off.
Production defaults are tested in subprocesses (tests/studio/test_security_settings.py).

Set in the environment, so the servers and workers the tests start get the same settings."""

import os

os.environ.setdefault("DEBUG", "1")
# The servers and workers the tests start write e-mail to files (EMAIL_FILE_PATH, under var/mail)
# that the tests read; the test process itself gets pytest-django's in-memory outbox.
os.environ.setdefault("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")

from studio.settings import *  # noqa: E402,F403
