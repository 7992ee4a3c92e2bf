"""Notes and drawings drive the next render, in Chromium with a real worker: a timecoded comment is
re-rendered with its note appended (the edit shown, then confirmed), and a drawing is re-rendered
as a region; each new take links back to its comment and the comment's thread shows it."""

from __future__ import annotations

import pytest

from generation.backends.base import RenderRequest
from studio.models import Comment, Shot, Take
from studio.services.render_requests import take_request
from tests.browser.conftest import has_ffmpeg, off_the_event_loop, wait_for_take, wait_until
from tests.conftest import require, wait_until_worker_idle

pytestmark = [pytest.mark.slow, pytest.mark.services, pytest.mark.django_db(transaction=True)]



def test_a_note_and_a_drawing_each_rerender_a_linked_take(browser_page, demo, owner, celery_worker_process):
    require(has_ffmpeg(), "ffmpeg")
    shot = Shot.objects.alive().filter(scene__project=demo).order_by("scene__order", "order").first()
    first = off_the_event_loop(take_request, shot=shot, actor=owner, force=True).take
    take = wait_for_take(lambda: Take.objects.filter(pk=first.pk))
    # Its identity score written and published first: that event refreshes the note thread, and
    # arriving while the test clicked in the thread it closed the form under the click (CI).
    wait_until_worker_idle(celery_worker_process)
    prompt = take.request["prompt"]

    review = browser_page(owner)
    page = review.open(f"/p/{demo.slug}/shots/{shot.id}/review/?take={take.id}")
    wait_until(page, "document.getElementById('video-main').readyState >= 2")
    page.locator("#player").focus()
    for _ in range(12):
        page.keyboard.press("ArrowRight")
    # A loop drawn round the left half of the frame, then the note.
    page.click("#draw-toggle")
    box = page.locator("#draw-layer").bounding_box()
    left, top, width, height = box["x"], box["y"], box["width"], box["height"]
    page.mouse.move(left + width * 0.1, top + height * 0.2)
    page.mouse.down()
    for x, y in ((0.45, 0.2), (0.45, 0.8), (0.1, 0.8), (0.1, 0.21)):
        page.mouse.move(left + width * x, top + height * y, steps=4)
    page.mouse.up()
    page.fill("#comment-body", "The lamp is already lit")
    page.click("#comment-form button[type=submit]")
    page.wait_for_selector(".comment .timecode-link >> text=00:00:00:12")
    comment = Comment.objects.get(take=take)
    assert comment.annotation and comment.frame == 12

    # 1. Re-render with this note: the proposed edit is shown before anything is rendered.
    thread = f"#comment-{comment.id}"
    page.click(f"{thread} .note-rerender summary")
    assert page.text_content(f"{thread} .note-rerender ins.note-added") == "The lamp is already lit"
    proposed = page.input_value(f"#note-prompt-{comment.id}")
    assert proposed.startswith(prompt.rstrip(". ")) and proposed.endswith("The lamp is already lit")
    assert not Take.objects.filter(from_comment=comment).exists()  # nothing until confirmed
    page.click(f"{thread} .note-rerender button[type=submit]")
    page.wait_for_selector(".toast >> text=/queued from the note/")
    noted = wait_for_take(lambda: Take.objects.filter(from_comment=comment, request__region_mask_path=None))
    assert noted.request["prompt"] == proposed and noted.id != take.id
    page.reload()
    page.wait_for_selector(f"{thread} .note-results [data-note-take='{noted.id}'][data-status=succeeded]")

    # 2. Re-render this region: the drawing is the mask over this take's frames.
    page.click(f"{thread} .region-rerender summary")
    page.click(f"{thread} .region-rerender button[type=submit]")
    page.wait_for_selector(".toast >> text=/queued from the note/")
    regional = wait_for_take(lambda: Take.objects.filter(from_comment=comment).exclude(request__region_mask_path=None))
    request = RenderRequest.from_dict(regional.request)
    assert request.source_video_path == take.video.path and request.region_mask_path
    assert regional.provenance.get("region") is True  # the animatic highlighted the region
    page.reload()
    page.wait_for_selector(f"{thread} .note-results [data-note-take='{regional.id}'][data-status=succeeded]")
    assert page.locator(f"{thread} .note-results li").count() == 2
    review.screenshot("review-room-note-rerender")
    page.click(f"{thread} .note-results [data-note-take='{regional.id}'] a")
    page.wait_for_selector(f"h1 >> text=take {regional.number}")
