"""Webhooks: owners register endpoints; the studio emits events after commit; a Celery task
delivers each one, signed per the Standard Webhooks specification, with retries and a log.

Every place an event happens calls one function here (take_finished, take_approved,
comment_created, script_imported, cut_exported). Nothing is built or stored unless an active
endpoint of the project wants the event. Deliveries are rows first and messages second: the row
says what was sent, when, and what the receiver answered.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any, Callable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from standardwebhooks import Webhook

from studio import webhook_targets
from studio.models import DeliveryStatus, Membership, Project, Role, WebhookDelivery, WebhookEndpoint, WebhookEvent
from studio.models.webhooks import TEST_EVENT
from studio.services import dispatch
from studio.services.audit import audit_record

USER_AGENT = "Continuity-Webhooks/1"
# A message that arrives this much before its delivery's next attempt is a duplicate (Redis
# redelivers long-countdown messages after its visibility timeout), not the retry: it sends nothing.
EARLY_TOLERANCE_S = 2
# A pending delivery this long past due lost its message (broker restart, worker killed before
# acknowledging): the reconciler's minute tick sends it again. A duplicate finds the attempt claimed.
LOST_MESSAGE_GRACE_S = 300


# --- Endpoints (owners) ---------------------------------------------------------------------------

def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


@transaction.atomic
def endpoint_create(*, project: Project, actor, url: str, events: list[str], description: str = "") -> WebhookEndpoint:
    unknown = set(events) - set(WebhookEvent.values)
    if unknown or not events:
        raise ValidationError("Choose at least one event." if not events else f"Unknown events: {', '.join(sorted(unknown))}.")
    try:
        webhook_targets.check_url(url, allow_private=settings.CONTINUITY_WEBHOOK_ALLOW_PRIVATE)
    except webhook_targets.TargetRefused as exc:
        raise ValidationError(str(exc)) from None
    endpoint = WebhookEndpoint.objects.create(
        project=project, url=url, description=description.strip()[:200], secret=new_secret(),
        events=[e for e in WebhookEvent.values if e in events], created_by=actor,
    )
    audit_record(actor=actor, project_id=project.id, verb="webhook added", obj=endpoint, changes={"events": endpoint.events})
    return endpoint


@transaction.atomic
def endpoint_delete(*, endpoint: WebhookEndpoint, actor) -> None:
    audit_record(actor=actor, project_id=endpoint.project_id, verb="webhook removed", obj=endpoint)
    endpoint.delete()


@transaction.atomic
def endpoint_enable(*, endpoint: WebhookEndpoint, actor) -> WebhookEndpoint:
    """Turn a disabled endpoint back on with a clean slate of failures."""
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(active=True, consecutive_failures=0, disabled_reason="", disabled_at=None)
    endpoint.refresh_from_db()
    audit_record(actor=actor, project_id=endpoint.project_id, verb="webhook enabled", obj=endpoint)
    return endpoint


@transaction.atomic
def endpoint_send_test(*, endpoint: WebhookEndpoint, actor) -> WebhookDelivery:
    """A webhook.test event to this endpoint alone, whatever it subscribes to."""
    data = {"project": endpoint.project.slug, "message": "A test event from Continuity.", "sent_by": actor.get_username()}
    return _queue(endpoint, _new_event_id(), TEST_EVENT, _envelope(TEST_EVENT, data))


@transaction.atomic
def delivery_redeliver(*, delivery: WebhookDelivery, actor) -> WebhookDelivery:
    """Send the same event again as a new delivery. Same webhook-id: the receiver can tell it has
    seen the event before (the specification's idempotency key)."""
    if not delivery.endpoint.active:
        raise ValidationError("The endpoint is disabled: enable it first.")
    return _queue(delivery.endpoint, delivery.event_id, delivery.event_type, delivery.payload)


# --- Emitting (called by the services where things happen) -------------------------------------

def emit(project_id: int, event_type: str, data: Callable[[], dict[str, Any]]) -> list[WebhookDelivery]:
    """Queue `event_type` for every active endpoint of the project that wants it; each delivery
    is sent after the current transaction commits (never for a write that rolled back). `data`
    is only called when someone listens."""
    endpoints = [e for e in WebhookEndpoint.objects.filter(project_id=project_id, active=True) if e.wants(event_type)]
    if not endpoints:
        return []
    payload = _envelope(event_type, data())
    event_id = _new_event_id()
    return [_queue(endpoint, event_id, event_type, payload) for endpoint in endpoints]


def take_finished(take) -> None:
    """take.succeeded or take.failed (a cancelled take is neither)."""
    kind = {"succeeded": WebhookEvent.TAKE_SUCCEEDED, "failed": WebhookEvent.TAKE_FAILED}.get(take.status)
    if kind:
        emit(_take_project_id(take), kind, lambda: {"project": _slug(take), "take": _take_data(take)})


def take_approved(take, actor) -> None:
    emit(_take_project_id(take), WebhookEvent.TAKE_APPROVED,
         lambda: {"project": _slug(take), "take": _take_data(take), "approved_by": _name(actor)})


def comment_created(comment) -> None:
    take = comment.take
    emit(_take_project_id(take), WebhookEvent.COMMENT_CREATED, lambda: {"project": _slug(take), "comment": {
        "id": comment.id, "take_id": take.id, "shot": take.shot.code, "frame": comment.frame, "body": comment.body,
        "author": comment.author_name, "reply_to": comment.parent_id}})


def script_imported(project: Project, report, actor) -> None:
    emit(project.id, WebhookEvent.SCRIPT_IMPORTED,
         lambda: {"project": project.slug, "report": report.as_dict(), "imported_by": _name(actor)})


def cut_exported(export) -> None:
    cut = export.cut
    emit(cut.project_id, WebhookEvent.CUT_EXPORTED, lambda: {"project": cut.project.slug, "cut": {"id": cut.id, "name": cut.name},
         "export": {"id": export.id, "format": export.format, "warnings": export.warnings}})


def _take_data(take) -> dict[str, Any]:
    return {"id": take.id, "number": take.number, "shot": take.shot.code, "shot_id": take.shot_id, "status": take.status,
            "frames": take.frames, "backend": take.backend, "error": take.error}


def _take_project_id(take) -> int:
    return take.shot.scene.project_id


def _slug(take) -> str:
    return take.shot.scene.project.slug


def _name(user) -> str | None:
    return user.get_username() if getattr(user, "is_authenticated", False) else None


def _envelope(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    # The shape the Standard Webhooks specification recommends: type, timestamp, data.
    return {"type": event_type, "timestamp": timezone.now().isoformat(), "data": data}


def _new_event_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def _queue(endpoint: WebhookEndpoint, event_id: str, event_type: str, payload: dict[str, Any]) -> WebhookDelivery:
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, event_id=event_id, event_type=event_type, payload=payload,
                                              next_attempt_at=timezone.now())
    transaction.on_commit(lambda: dispatch.enqueue_webhook_delivery(delivery.id))
    return delivery


# --- Delivering (the Celery task) ----------------------------------------------------------------

def retry_delay(attempts_made: int) -> float | None:
    """Seconds before the next attempt after `attempts_made` failed ones; None when spent."""
    delays = settings.CONTINUITY_WEBHOOK_RETRY_DELAYS
    return delays[attempts_made - 1] if 1 <= attempts_made <= len(delays) else None


def delivery_attempt(*, delivery_id: int) -> None:
    """One attempt at a pending delivery. A duplicate message finds the attempt already claimed."""
    delivery = WebhookDelivery.objects.select_related("endpoint").filter(pk=delivery_id, status=DeliveryStatus.PENDING).first()
    if delivery is None or _early(delivery) or not _claim(delivery):
        return
    endpoint = delivery.endpoint
    if not endpoint.active:
        _record(delivery, error=f"Not sent: the endpoint is disabled ({endpoint.disabled_reason or 'by an owner'}).", retry=False)
        return
    body = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False)
    try:
        answer = webhook_targets.post(endpoint.url, body.encode(), signed_headers(endpoint.secret, delivery.event_id, body),
                                      timeout_s=settings.CONTINUITY_WEBHOOK_TIMEOUT_S,
                                      allow_private=settings.CONTINUITY_WEBHOOK_ALLOW_PRIVATE)
    except webhook_targets.TargetRefused as exc:
        _record(delivery, error=f"Refused: {exc}", retry=False)
    except webhook_targets.SendFailed as exc:
        _record(delivery, error=str(exc), retry=True)
    else:
        delivered = 200 <= answer.status < 300  # a redirect is not followed, so it is not a delivery
        _record(delivery, code=answer.status, excerpt=answer.excerpt, retry=not delivered, delivered=delivered)


def deliveries_resend_overdue() -> int:
    """Send again every pending delivery whose attempt is long overdue; returns how many."""
    overdue = timezone.now() - timedelta(seconds=LOST_MESSAGE_GRACE_S)
    ids = list(WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lt=overdue).values_list("pk", flat=True))
    for delivery_id in ids:
        dispatch.enqueue_webhook_delivery(delivery_id)
    return len(ids)


def signed_headers(secret: str, event_id: str, body: str) -> dict[str, str]:
    sent_at = datetime.now(tz=dt_timezone.utc)
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": Webhook(secret).sign(event_id, sent_at, body),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


def _early(delivery: WebhookDelivery) -> bool:
    due = delivery.next_attempt_at
    return due is not None and due > timezone.now() + timedelta(seconds=EARLY_TOLERANCE_S)


def _claim(delivery: WebhookDelivery) -> bool:
    claimed = WebhookDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.PENDING, attempts=delivery.attempts).update(
        attempts=F("attempts") + 1, last_attempt_at=timezone.now())
    delivery.attempts += 1
    return bool(claimed)


def _record(delivery: WebhookDelivery, *, code: int | None = None, excerpt: str = "", error: str = "",
            retry: bool, delivered: bool = False) -> None:
    endpoint = delivery.endpoint
    if delivered:
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=0)
    elif endpoint.active:
        _count_failure(endpoint)
    delay = retry_delay(delivery.attempts) if retry and endpoint.active else None
    delivery.status = DeliveryStatus.SUCCEEDED if delivered else (DeliveryStatus.PENDING if delay is not None else DeliveryStatus.FAILED)
    delivery.response_code, delivery.response_excerpt, delivery.error = code, excerpt, error[:2000]
    delivery.next_attempt_at = timezone.now() + timedelta(seconds=delay) if delay is not None else None
    delivery.attempt_log = [*delivery.attempt_log, {"at": timezone.now().isoformat(), "response_code": code, "error": error[:300],
                                                    "retry_in_s": delay}]
    delivery.save(update_fields=["status", "response_code", "response_excerpt", "error", "next_attempt_at", "attempt_log"])
    if delay is not None:
        transaction.on_commit(lambda: dispatch.enqueue_webhook_delivery(delivery.id, countdown=delay))


def _count_failure(endpoint: WebhookEndpoint) -> None:
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=F("consecutive_failures") + 1)
    endpoint.refresh_from_db(fields=["consecutive_failures", "active"])
    limit = settings.CONTINUITY_WEBHOOK_DISABLE_AFTER
    if endpoint.active and endpoint.consecutive_failures >= limit:
        _disable(endpoint, f"Disabled after {endpoint.consecutive_failures} failed attempts in a row.")


def _disable(endpoint: WebhookEndpoint, reason: str) -> None:
    """Stop sending, and tell the owners: in the project's activity, on the webhooks page, by e-mail."""
    if not WebhookEndpoint.objects.filter(pk=endpoint.pk, active=True).update(active=False, disabled_reason=reason,
                                                                             disabled_at=timezone.now()):
        return  # another attempt disabled it first: one notice is enough
    endpoint.refresh_from_db()
    audit_record(actor=None, project_id=endpoint.project_id, verb="webhook disabled", obj=endpoint, changes={"reason": reason})
    owners = Membership.objects.filter(project_id=endpoint.project_id, role=Role.OWNER).exclude(user__email="")
    recipients = list(owners.values_list("user__email", flat=True))
    if recipients:
        send_mail(f"[Continuity] Webhook disabled: {endpoint.url}",
                  f"The webhook {endpoint.url} of {endpoint.project.name} was disabled. {reason}\n"
                  "Fix the receiver, then enable it again on the project's Webhooks page.",
                  None, recipients, fail_silently=True)
