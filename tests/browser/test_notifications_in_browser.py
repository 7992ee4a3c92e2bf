"""A mention reaches the person mentioned while they work: alice comments "@carol …" in the review
room, and carol's bell, open in another browser context on another page, counts it live; exactly
one e-mail goes to carol (the server writes its mail to files: tests/settings.py)."""

from __future__ import annotations

import uuid
from email import message_from_bytes
from pathlib import Path

import pytest
from django.conf import settings

from studio.models import Notification, NotificationKind, Take, TakeStatus
from tests.browser.conftest import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.services, pytest.mark.django_db(transaction=True)]


def _mails_to(address: str, marker: str) -> list:
    folder = Path(settings.EMAIL_FILE_PATH)
    found = []
    for path in folder.glob("*.log") if folder.exists() else []:
        # One file per connection; messages are separated by a line of 79 dashes.
        for chunk in path.read_bytes().split(b"\n" + b"-" * 79 + b"\n"):
            if marker.encode() in chunk:
                message = message_from_bytes(chunk.strip())
                if message["To"] == address:
                    found.append(message)
    return found


def test_a_mention_rings_the_other_browsers_bell_and_sends_one_email(browser_page, project, users, shot):
    alice, carol = users["alice"], users["carol"]
    # A take without media (its render failed): the room still takes comments, and no video loads.
    take = Take.objects.create(shot=shot, number=1, backend="animatic", request={"prompt": shot.prompt},
                               signature="sig-failed", status=TakeStatus.FAILED, error="out of memory")
    marker = uuid.uuid4().hex[:10]

    listener = browser_page(carol)
    listener.open(f"/p/{project.slug}/board/")
    bell = listener.page.locator("#notification-bell")
    wait_until(listener.page, "document.getElementById('notification-bell').dataset.unread === '0'")

    author = browser_page(alice)
    page = author.open(f"/p/{project.slug}/shots/{shot.id}/review/?take={take.id}")
    # The comment field offers the project's members after "@"; Enter takes the one chosen.
    page.locator("#comment-body").press_sequentially("@car")
    page.wait_for_selector("#mention-list [role=option] >> text=@carol")
    page.keyboard.press("Enter")
    assert page.input_value("#comment-body") == "@carol "
    page.locator("#comment-body").press_sequentially(f"is the deck too dark? {marker}")
    page.click("#comment-form button[type=submit]")
    page.wait_for_selector(f".comment >> text={marker}")

    # carol's page was not reloaded: the bell counts the mention and a toast says what happened.
    wait_until(listener.page, "document.getElementById('notification-bell').dataset.unread === '1'")
    assert bell.get_attribute("aria-label") == "Notifications: 1 unread"
    listener.page.wait_for_selector(".toast >> text=alice mentioned you on shot 1A")
    notification = Notification.objects.get(recipient=carol)
    assert notification.kind == NotificationKind.MENTION and marker in notification.comment.body

    # One e-mail, to carol only (sent after commit by the server that took the comment).
    mails = _mails_to("carol@example.com", marker)
    for _ in range(50):
        if mails:
            break
        listener.page.wait_for_timeout(100)
        mails = _mails_to("carol@example.com", marker)
    assert len(mails) == 1
    assert "alice mentioned you on shot 1A" in " ".join(str(mails[0]["Subject"]).split())
    assert _mails_to("alice@example.com", marker) == []

    # Opening the notifications page and the notification marks it read.
    listener.page.click("#notification-bell")
    listener.page.click(f".notification >> text={marker}")
    listener.page.wait_for_url(f"**/shots/{shot.id}/review/?take={take.id}")
    wait_until(listener.page, "document.getElementById('notification-bell').dataset.unread === '0'")
