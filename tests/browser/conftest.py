"""The studio in a real browser: Debian's Chromium driven by Playwright, against the app served by
daphne (a real ASGI server, WebSockets included) and a real Celery worker, sharing the test
database, Redis and a media folder."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import database_url_for_workers, free_port, require, worker_goes_idle

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]
SCREENSHOTS = ROOT / "docs" / "screenshots"
EXPECTED_REFUSAL = re.compile(r"Failed to load resource: the server responded with a status of (409|422)")

# Playwright's synchronous API keeps an event loop in this thread; the ORM calls the tests make
# between browser steps are ordinary blocking calls, so Django's async guard does not apply.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def _wait_for_http(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"daphne exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"daphne did not answer:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def studio_server(celery_worker_process, django_db_setup, django_db_blocker, worker_media, tmp_path_factory):
    """daphne serving studio.asgi on a free port, with the worker's queues and media folder."""
    with django_db_blocker.unblock():
        database_url = database_url_for_workers()
    port = free_port()
    suffix = celery_worker_process["queue_suffix"]
    log = tmp_path_factory.mktemp("daphne") / "daphne.log"
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": settings.REDIS_URL, "MEDIA_ROOT": str(worker_media),
           "CONTINUITY_RENDER_QUEUE": f"gpu{suffix}", "CONTINUITY_DEFAULT_QUEUE": f"default{suffix}",
           "PYTHONUNBUFFERED": "1"}
    # The studio's Daphne, as `make run` starts it (request bodies capped as they arrive).
    command = [sys.executable, "-m", "studio.daphne_server", "-b", "127.0.0.1", "-p", str(port), "studio.asgi:application"]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    _wait_for_http(base + "/accounts/login/", process, log)
    yield {"url": base, "log": log}
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="session")
def chromium():
    require(Path(CHROMIUM).exists(), "Chromium at /usr/bin/chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(False, "the playwright package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(autouse=True)
def _shared_media_and_queues(request, settings, worker_media, celery_worker_process):
    """Files the test writes (reference images) must be where the server and worker look, and
    renders the test requests must go to this worker's queues."""
    suffix = celery_worker_process["queue_suffix"]
    settings.MEDIA_ROOT = worker_media
    settings.CONTINUITY_RENDER_QUEUE = f"gpu{suffix}"
    settings.CELERY_TASK_DEFAULT_QUEUE = f"default{suffix}"
    yield
    worker_goes_idle(celery_worker_process)
    print("--- worker log ---\n" + celery_worker_process["log"].read_text(errors="replace")[-3000:])


class BrowserPage:
    """A signed-in page that records console errors; a test fails if any appear."""

    def __init__(self, chromium, server: dict, user):
        from django.test import Client

        self.server = server
        self.context = chromium.new_context(viewport={"width": 1280, "height": 800}, base_url=server["url"])
        client = Client()
        client.force_login(user)
        self.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                                   "url": server["url"]}])
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", self._record_console)
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))

    def _record_console(self, message) -> None:
        # Chromium logs every 4xx response as an error; 409 (stale save) and 422 (refused values)
        # are answers the studio gives on purpose and shows to the user.
        if message.type == "error" and not EXPECTED_REFUSAL.search(message.text):
            self.errors.append(f"{message.type}: {message.text}")

    def open(self, path: str, *, live: bool = True):
        self.page.goto(path)
        if live:
            self.page.wait_for_selector("#live-status[data-state=live]", timeout=10_000)
        return self.page

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def browser_page(chromium, studio_server):
    """browser_page(user) -> BrowserPage. Console errors fail the test at teardown."""
    pages: list[BrowserPage] = []

    def make(user) -> BrowserPage:
        page = BrowserPage(chromium, studio_server, user)
        pages.append(page)
        return page

    yield make
    errors = [f"{p.page.url}: {e}" for p in pages for e in p.errors]
    for page in pages:
        page.close()
    assert not errors, "console errors:\n" + "\n".join(errors)


def has_ffmpeg() -> bool:
    from generation.media import ffmpeg_binary

    try:
        found = ffmpeg_binary()
    except Exception:
        return False
    return bool(found) and (shutil.which(found) is not None or os.path.exists(found))


def off_the_event_loop(function, *args, **kwargs):
    """Run a service call in a fresh thread. Playwright keeps an event loop running in the test's
    thread, and services publish events through async_to_sync, which refuses to run there."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    def call():
        try:
            return function(*args, **kwargs)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result()


@pytest.fixture
def demo():
    """The demo project, as `make run` makes it; the browsers sign in as its owner."""
    from studio.services.demo import demo_project_ensure

    project, _ = off_the_event_loop(demo_project_ensure, with_login=True)
    return project


@pytest.fixture
def owner(demo):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username="demo")


@pytest.fixture(autouse=True)
def _fast_password_hashing():
    """Overrides the suite's MD5 hasher: the server process checks passwords with the real hashers."""
    yield


def wait_until(page, expression: str, *, arg=None, timeout: float = 30_000) -> None:
    """Poll a JavaScript expression or function until it is truthy. Playwright's own
    wait_for_function compiles its predicate with eval inside the page, which the studio's
    Content-Security-Policy forbids (as it should); page.evaluate goes through DevTools instead."""
    deadline = time.monotonic() + timeout / 1000
    while not (page.evaluate(expression, arg) if arg is not None else page.evaluate(expression)):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout / 1000:.0f} s waiting for: {expression.strip()[:200]}")
        page.wait_for_timeout(100)


RENDER_TIMEOUT_S = 180


def wait_for_take(query, *, timeout: float = RENDER_TIMEOUT_S):
    """The take `query` finds, once the worker has finished it (it must succeed)."""
    from studio.models import TakeStatus

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        take = query().first()
        if take is not None and take.is_final:
            assert take.status == TakeStatus.SUCCEEDED, take.error
            return take
        time.sleep(0.5)
    raise AssertionError(f"no finished take after {timeout} s")
