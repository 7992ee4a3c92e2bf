"""Webhooks: a real HTTP receiver on a local port verifies every delivery with the
`standardwebhooks` library. Celery runs eagerly (each retry runs as soon as it is scheduled; the
schedule itself is read from the delivery log), so nothing here sleeps.

Local receivers are private addresses: the tests that deliver turn CONTINUITY_WEBHOOK_ALLOW_PRIVATE
on; test_loopback_target_is_refused_by_default proves the default refuses them."""

from __future__ import annotations

import ipaddress
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from studio import webhook_targets
from studio.celery import app
from studio.models import AuditEvent, DeliveryStatus, Take, TakeStatus, WebhookDelivery, WebhookEndpoint
from studio.services import webhooks
from studio.services.cuts import cut_create, export_request
from studio.services.exports import export_run
from studio.services.renders import take_fail
from studio.services.reviews import comment_create, review_decide
from studio.services.script import script_import
from studio.services.shots import shot_create

FAST_RETRIES = [0.01, 0.02, 0.03, 0.04, 0.05]


class Receiver:
    """An HTTP server in a thread that answers with the statuses it is given (then 200) and keeps
    every request it got."""

    def __init__(self, statuses=(), headers=None):
        self.statuses = list(statuses)
        self.extra_headers = headers or {}
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {name.lower(): value for name, value in self.headers.items()}
                receiver.requests.append({"path": self.path, "headers": headers, "body": body})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                for name, value in receiver.extra_headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(f"answered {status}".encode())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/continuity"

    def verified(self, secret: str) -> list[dict]:
        """Every request's payload, each checked with the library a receiver would use."""
        return [Webhook(secret).verify(r["body"], r["headers"]) for r in self.requests]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def make(statuses=(), headers=None) -> Receiver:
        made.append(Receiver(statuses, headers))
        return made[-1]

    yield make
    for r in made:
        r.close()


@pytest.fixture
def eager():
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.fixture
def local_receivers_allowed(settings, eager):
    settings.CONTINUITY_WEBHOOK_ALLOW_PRIVATE = True
    settings.CONTINUITY_WEBHOOK_RETRY_DELAYS = FAST_RETRIES
    return settings


@pytest.fixture
def take(scene, alice):
    shot = shot_create(scene=scene, actor=alice, prompt="The ferry horn sounds.")
    return Take.objects.create(shot=shot, number=1, backend="animatic", request={"prompt": shot.prompt, "references": []},
                               signature="sig-1", status=TakeStatus.SUCCEEDED, frames=48, progress=1.0,
                               video="renders/1.mp4", finished_at=timezone.now())


def endpoint_for(project, alice, url: str, events: list[str]) -> WebhookEndpoint:
    return webhooks.endpoint_create(project=project, actor=alice, url=url, events=events)


def test_an_approval_reaches_the_receiver_signed_per_standard_webhooks(project, alice, users, take, receiver,
                                                                      local_receivers_allowed, django_capture_on_commit_callbacks):
    hook = receiver()
    endpoint = endpoint_for(project, alice, hook.url, ["take.approved"])

    with django_capture_on_commit_callbacks(execute=True):
        review_decide(take=take, actor=users["carol"], decision="approved")

    [payload] = hook.verified(endpoint.secret)
    delivery = WebhookDelivery.objects.get()
    assert endpoint.secret.startswith("whsec_")
    assert payload["type"] == "take.approved"
    assert payload["data"]["take"]["id"] == take.id and payload["data"]["approved_by"] == "carol"
    assert payload["data"]["project"] == project.slug
    headers = hook.requests[0]["headers"]
    assert headers["webhook-id"] == delivery.event_id and headers["content-type"] == "application/json"
    assert (delivery.status, delivery.attempts, delivery.response_code) == (DeliveryStatus.SUCCEEDED, 1, 200)
    assert delivery.response_excerpt == "answered 200"
    # The signature covers the body and the secret: a changed body or another secret fails.
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint.secret).verify(hook.requests[0]["body"].replace(b"carol", b"mallory"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(webhooks.new_secret()).verify(hook.requests[0]["body"], headers)


def test_a_receiver_that_fails_three_times_then_recovers_gets_the_event(project, alice, users, take, receiver,
                                                                          local_receivers_allowed,
                                                                          django_capture_on_commit_callbacks):
    hook = receiver(statuses=[500, 503, 500])
    endpoint = endpoint_for(project, alice, hook.url, ["comment.created"])

    with django_capture_on_commit_callbacks(execute=True):
        comment = comment_create(take=take, author=users["carol"], body="Hold the horn longer.", frame=12)

    payloads = hook.verified(endpoint.secret)
    delivery = WebhookDelivery.objects.get()
    assert len(payloads) == 4
    assert {p["data"]["comment"]["id"] for p in payloads} == {comment.id}
    assert len({r["headers"]["webhook-id"] for r in hook.requests}) == 1  # one event, retried
    assert (delivery.status, delivery.attempts, delivery.response_code) == (DeliveryStatus.SUCCEEDED, 4, 200)
    # The log keeps every attempt, and each retry waited the next step of the schedule.
    assert [a["response_code"] for a in delivery.attempt_log] == [500, 503, 500, 200]
    assert [a["retry_in_s"] for a in delivery.attempt_log] == [*FAST_RETRIES[:3], None]
    endpoint.refresh_from_db()
    assert endpoint.active and endpoint.consecutive_failures == 0


def test_retries_stop_when_the_schedule_is_spent(project, alice, take, users, receiver, local_receivers_allowed,
                                                 django_capture_on_commit_callbacks):
    local_receivers_allowed.CONTINUITY_WEBHOOK_RETRY_DELAYS = [0.01, 0.01]
    hook = receiver(statuses=[500] * 10)
    endpoint_for(project, alice, hook.url, ["take.approved"])

    with django_capture_on_commit_callbacks(execute=True):
        review_decide(take=take, actor=users["carol"], decision="approved")

    delivery = WebhookDelivery.objects.get()
    assert len(hook.requests) == 3
    assert (delivery.status, delivery.attempts, delivery.response_code, delivery.next_attempt_at) == (
        DeliveryStatus.FAILED, 3, 500, None)


def test_the_default_schedule_backs_off_over_hours(settings):
    from studio import settings as studio_settings

    delays = studio_settings.CONTINUITY_WEBHOOK_RETRY_DELAYS
    settings.CONTINUITY_WEBHOOK_RETRY_DELAYS = delays
    assert [webhooks.retry_delay(n) for n in range(1, len(delays) + 2)] == [*delays, None]
    assert delays == sorted(delays) and delays[0] <= 60 and sum(delays) >= 6 * 3600


def test_loopback_target_is_refused_by_default(project, alice, users, take, receiver, settings, eager,
                                               django_capture_on_commit_callbacks):
    hook = receiver()
    assert settings.CONTINUITY_WEBHOOK_ALLOW_PRIVATE is False  # the shipped default

    with pytest.raises(ValidationError, match="127.0.0.1, a loopback address"):
        endpoint_for(project, alice, hook.url, ["take.approved"])
    # Registered while an operator allowed it, then the setting went off: the send itself refuses.
    settings.CONTINUITY_WEBHOOK_ALLOW_PRIVATE = True
    endpoint = endpoint_for(project, alice, hook.url, ["take.approved"])
    settings.CONTINUITY_WEBHOOK_ALLOW_PRIVATE = False
    with django_capture_on_commit_callbacks(execute=True):
        review_decide(take=take, actor=users["carol"], decision="approved")

    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert hook.requests == []
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 1  # refused, not retried
    assert "loopback" in delivery.error and delivery.response_code is None


@pytest.mark.parametrize("address,reason", [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"), ("10.0.0.5", "private"),
    ("192.168.1.10", "private"), ("169.254.169.254", "link-local"), ("fe80::1", "link-local"), ("100.64.0.1", "non-public"),
    ("240.0.0.1", "reserved"), ("224.0.0.1", "multicast"), ("0.0.0.0", "unspecified"), ("93.184.215.14", None),
    ("2606:4700::1111", None),
])
def test_addresses_a_webhook_may_not_reach(address, reason):
    assert webhook_targets.refusal(ipaddress.ip_address(address), allow_private=False) == reason


def test_names_are_checked_after_resolution_and_odd_urls_are_refused():
    with pytest.raises(webhook_targets.TargetRefused, match="loopback"):
        webhook_targets.post("http://localhost:9/x", b"{}", {}, timeout_s=1, allow_private=False)
    for url, why in (("ftp://example.com/", "http"), ("http://user:pw@example.com/", "password"), ("http:///x", "no host")):
        with pytest.raises(webhook_targets.TargetRefused, match=why):
            webhook_targets.parse_target(url)


def test_redirects_are_not_followed(project, alice, take, users, receiver, local_receivers_allowed,
                                    django_capture_on_commit_callbacks):
    local_receivers_allowed.CONTINUITY_WEBHOOK_RETRY_DELAYS = []
    elsewhere = receiver()
    hook = receiver(statuses=[302], headers={"Location": elsewhere.url})
    endpoint_for(project, alice, hook.url, ["take.approved"])

    with django_capture_on_commit_callbacks(execute=True):
        review_decide(take=take, actor=users["carol"], decision="approved")

    delivery = WebhookDelivery.objects.get()
    assert (len(hook.requests), elsewhere.requests) == (1, [])
    assert (delivery.status, delivery.response_code) == (DeliveryStatus.FAILED, 302)


def test_an_endpoint_failing_again_and_again_is_disabled_and_its_owners_told(project, alice, take, users, receiver,
                                                                             local_receivers_allowed,
                                                                             django_capture_on_commit_callbacks):
    local_receivers_allowed.CONTINUITY_WEBHOOK_DISABLE_AFTER = 3
    hook = receiver(statuses=[500] * 10)
    endpoint = endpoint_for(project, alice, hook.url, ["take.approved", "comment.created"])

    with django_capture_on_commit_callbacks(execute=True):
        review_decide(take=take, actor=users["carol"], decision="approved")
    endpoint.refresh_from_db()
    delivery = WebhookDelivery.objects.get()

    assert len(hook.requests) == 3
    assert not endpoint.active and "3 failed attempts" in endpoint.disabled_reason
    assert delivery.status == DeliveryStatus.FAILED and delivery.next_attempt_at is None
    assert AuditEvent.objects.filter(project=project, verb="webhook disabled", object_id=str(endpoint.id)).exists()
    [notice] = mail.outbox
    assert notice.to == [alice.email] and hook.url in notice.subject
    # Disabled: new events queue nothing; enabled again, they flow.
    with django_capture_on_commit_callbacks(execute=True):
        comment_create(take=take, author=users["carol"], body="still there?")
    assert WebhookDelivery.objects.count() == 1
    webhooks.endpoint_enable(endpoint=endpoint, actor=alice)
    with django_capture_on_commit_callbacks(execute=True):
        comment_create(take=take, author=users["carol"], body="back?")
    assert WebhookDelivery.objects.count() == 2 and hook.verified(endpoint.secret)[-1]["data"]["comment"]["body"] == "back?"


def test_events_go_only_to_endpoints_that_chose_them_and_only_after_commit(project, alice, users, take, receiver,
                                                                           local_receivers_allowed,
                                                                           django_capture_on_commit_callbacks):
    approvals, comments = receiver(), receiver()
    endpoint_for(project, alice, approvals.url, ["take.approved"])
    endpoint_for(project, alice, comments.url, ["comment.created"])

    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            review_decide(take=take, actor=users["carol"], decision="approved")
            raise RuntimeError("the write rolls back")
    assert WebhookDelivery.objects.count() == 0 and approvals.requests == []

    with django_capture_on_commit_callbacks(execute=True):
        review_decide(take=take, actor=users["carol"], decision="approved")
    assert (len(approvals.requests), len(comments.requests)) == (1, 0)


def test_take_failure_script_import_and_export_emit_their_events(project, alice, scene, take, receiver,
                                                                 local_receivers_allowed, django_capture_on_commit_callbacks):
    hook = receiver()
    endpoint = endpoint_for(project, alice, hook.url, ["take.failed", "take.succeeded", "script.imported", "cut.exported"])
    queued = Take.objects.create(shot=take.shot, number=2, backend="animatic", request={}, signature="sig-2",
                                 status=TakeStatus.QUEUED)
    take.shot.approved_take = take
    take.shot.save(update_fields=["approved_take"])

    with django_capture_on_commit_callbacks(execute=True):
        take_fail(take=queued, error="out of memory")
        script_import(project=project, actor=alice, data=b"INT. FERRY DECK - NIGHT\n\nThe horn sounds.\n")
        export = export_request(cut=cut_create(project=project, actor=alice, name="Assembly"), actor=alice, fmt="manifest")
    export_run(export_id=export.id)

    payloads = hook.verified(endpoint.secret)
    assert [p["type"] for p in payloads] == ["take.failed", "script.imported", "cut.exported"]
    assert payloads[0]["data"]["take"]["error"] == "out of memory"
    assert payloads[1]["data"]["report"]["version"] == 1
    export.refresh_from_db()
    assert export.warnings and export.warnings[0].startswith("Draft:")  # nobody approved the take
    assert payloads[2]["data"]["export"] == {"id": export.id, "format": "manifest", "warnings": export.warnings}


def test_send_test_event_and_redeliver(project, alice, receiver, local_receivers_allowed, django_capture_on_commit_callbacks):
    hook = receiver()
    endpoint = endpoint_for(project, alice, hook.url, ["cut.exported"])

    with django_capture_on_commit_callbacks(execute=True):
        first = webhooks.endpoint_send_test(endpoint=endpoint, actor=alice)
    first.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        again = webhooks.delivery_redeliver(delivery=first, actor=alice)

    payloads = hook.verified(endpoint.secret)
    assert [p["type"] for p in payloads] == ["webhook.test", "webhook.test"]
    assert again.id != first.id and again.event_id == first.event_id
    assert [r["headers"]["webhook-id"] for r in hook.requests] == [first.event_id] * 2


def test_no_endpoint_no_work(project, alice, take, users, django_assert_num_queries):
    """A project without webhooks pays one query per event, and builds no payload."""
    with django_assert_num_queries(1):
        assert webhooks.emit(project.id, "take.approved", lambda: pytest.fail("payload built for nobody")) == []


# --- The owners' page -------------------------------------------------------------------------------

def test_owners_register_endpoints_see_the_secret_and_the_log(client, project, alice, users, take, receiver,
                                                              local_receivers_allowed, django_capture_on_commit_callbacks):
    hook = receiver(statuses=[500])
    local_receivers_allowed.CONTINUITY_WEBHOOK_RETRY_DELAYS = []
    client.force_login(alice)
    url = reverse("webhooks", args=[project.slug])

    response = client.post(url, {"url": hook.url, "description": "Slack bridge", "events": ["take.approved"]})
    endpoint = WebhookEndpoint.objects.get()
    assert response.status_code == 302 and endpoint.events == ["take.approved"] and endpoint.description == "Slack bridge"
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("webhook_test", args=[project.slug, endpoint.id]))
    delivery = WebhookDelivery.objects.get()
    page = client.get(url).content.decode()
    assert endpoint.secret in page and "webhook.test" in page and "500" in page and f"delivery-{delivery.id}" in page

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("webhook_redeliver", args=[project.slug, delivery.id]))
    assert len(hook.requests) == 2 and WebhookDelivery.objects.latest("id").status == DeliveryStatus.SUCCEEDED


def test_the_page_refuses_private_targets_and_hides_projects_from_outsiders(client, project, alice, users, settings):
    client.force_login(alice)
    response = client.post(reverse("webhooks", args=[project.slug]), {"url": "http://10.0.0.5/hook", "events": ["take.approved"]})
    assert response.status_code == 422 and "private address" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()
    for name, status in (("bob", 403), ("eve", 404)):
        client.force_login(users[name])
        assert client.get(reverse("webhooks", args=[project.slug])).status_code == status


def test_payloads_are_plain_json(project, alice, receiver, local_receivers_allowed, django_capture_on_commit_callbacks):
    hook = receiver()
    endpoint = endpoint_for(project, alice, hook.url, ["take.approved"])
    with django_capture_on_commit_callbacks(execute=True):
        webhooks.endpoint_send_test(endpoint=endpoint, actor=alice)
    body = json.loads(hook.requests[0]["body"])
    assert set(body) == {"type", "timestamp", "data"}


def test_no_answer_is_retried_and_logged(project, alice, receiver, local_receivers_allowed, django_capture_on_commit_callbacks):
    import socket

    local_receivers_allowed.CONTINUITY_WEBHOOK_RETRY_DELAYS = [0.01]
    with socket.socket() as closed:  # a port nobody listens on once this socket is closed
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    endpoint = endpoint_for(project, alice, f"http://127.0.0.1:{port}/hook", ["take.approved"])

    with django_capture_on_commit_callbacks(execute=True):
        webhooks.endpoint_send_test(endpoint=endpoint, actor=alice)

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_code) == (DeliveryStatus.FAILED, 2, None)
    assert "refused" in delivery.error.lower()
    assert [a["retry_in_s"] for a in delivery.attempt_log] == [0.01, None]
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 2


def test_a_message_arriving_before_the_retry_is_due_sends_nothing(project, alice, receiver, local_receivers_allowed,
                                                                     django_capture_on_commit_callbacks):
    """Eager Celery runs the hour-later retry at once, like a duplicate Redis redelivers early."""
    local_receivers_allowed.CONTINUITY_WEBHOOK_RETRY_DELAYS = [3600]
    hook = receiver(statuses=[500])
    endpoint = endpoint_for(project, alice, hook.url, ["take.approved"])

    with django_capture_on_commit_callbacks(execute=True):
        webhooks.endpoint_send_test(endpoint=endpoint, actor=alice)
    delivery = WebhookDelivery.objects.get()
    webhooks.delivery_attempt(delivery_id=delivery.id)  # another early copy
    delivery.refresh_from_db()

    assert len(hook.requests) == 1
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 1)
    assert delivery.next_attempt_at > timezone.now()
    # When the retry is due, it goes.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    webhooks.delivery_attempt(delivery_id=delivery.id)
    delivery.refresh_from_db()
    assert len(hook.requests) == 2 and (delivery.status, delivery.attempts) == (DeliveryStatus.SUCCEEDED, 2)


def test_the_minute_tick_resends_deliveries_whose_message_was_lost(project, alice, receiver, local_receivers_allowed):
    from datetime import timedelta

    from studio.tasks import reconcile_renders

    hook = receiver()
    endpoint = endpoint_for(project, alice, hook.url, ["take.approved"])
    webhooks.endpoint_send_test(endpoint=endpoint, actor=alice)  # queued; its message never sent (no commit here)
    lost = WebhookDelivery.objects.get()
    WebhookDelivery.objects.filter(pk=lost.pk).update(next_attempt_at=timezone.now() - timedelta(minutes=10))
    fresh = webhooks.endpoint_send_test(endpoint=endpoint, actor=alice)  # due now: its message may still be on its way

    reconcile_renders()

    lost.refresh_from_db()
    fresh.refresh_from_db()
    assert len(hook.requests) == 1 and hook.requests[0]["headers"]["webhook-id"] == lost.event_id
    assert (lost.status, fresh.status) == (DeliveryStatus.SUCCEEDED, DeliveryStatus.PENDING)
