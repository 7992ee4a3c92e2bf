"""Webhooks through a real Celery worker process and real Redis: a receiver that fails three times
then recovers gets the event, verified with the `standardwebhooks` library, each retry sent by the
worker with a countdown (tests/studio/test_webhooks.py runs the same rules eagerly, in-process).

The worker is started for this file with the settings an operator of an intranet receiver would
set: private addresses allowed, and a retry schedule of fractions of a second."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from django.conf import settings as django_settings

from studio.models import DeliveryStatus, WebhookDelivery
from studio.services import webhooks
from studio.services.reviews import comment_create
from tests.conftest import ROOT, _redis_answers, _wait_until_ready, database_url_for_workers, require
from tests.studio.test_webhooks import Receiver

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]
RETRIES = "0.3,0.3,0.3,0.3"


@pytest.fixture
def webhook_worker(django_db_blocker, tmp_path, settings):
    require(_redis_answers(), "Redis")
    queue = f"webhooks{os.getpid()}"
    log_path = tmp_path / "worker.log"
    with django_db_blocker.unblock():
        database_url = database_url_for_workers()
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": django_settings.REDIS_URL,
           "CONTINUITY_WEBHOOK_ALLOW_PRIVATE": "1", "CONTINUITY_WEBHOOK_RETRY_DELAYS": RETRIES,
           "CONTINUITY_DEFAULT_QUEUE": queue, "PYTHONUNBUFFERED": "1"}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "studio", "worker", "-Q", queue, "--concurrency", "1",
             "--prefetch-multiplier", "1", "-n", f"{queue}@%h", "--loglevel", "INFO", "--without-gossip",
             "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_ready(process, log_path)
        settings.CELERY_TASK_DEFAULT_QUEUE = queue
        settings.CONTINUITY_WEBHOOK_ALLOW_PRIVATE = True  # this process registers the local receiver
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        print(log_path.read_text(errors="replace")[-4000:])  # shown when the test failed


def test_a_receiver_that_fails_three_times_then_recovers_gets_the_event_from_a_real_worker(
        webhook_worker, project, alice, users, take):
    hook = Receiver(statuses=[500, 502, 503])
    try:
        endpoint = webhooks.endpoint_create(project=project, actor=alice, url=hook.url, events=["comment.created"])
        comment = comment_create(take=take, author=users["carol"], body="Hold the horn longer.", frame=12)

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            delivery = WebhookDelivery.objects.filter(endpoint=endpoint).first()
            if delivery is not None and delivery.status != DeliveryStatus.PENDING:
                break
            time.sleep(0.2)
        payloads = hook.verified(endpoint.secret)  # raises if any signature does not verify
    finally:
        hook.close()

    assert (delivery.status, delivery.attempts, delivery.response_code) == (DeliveryStatus.SUCCEEDED, 4, 200)
    assert [a["response_code"] for a in delivery.attempt_log] == [500, 502, 503, 200]
    assert len(payloads) == 4 and {p["data"]["comment"]["id"] for p in payloads} == {comment.id}
    assert len({r["headers"]["webhook-id"] for r in hook.requests}) == 1  # one event, retried
