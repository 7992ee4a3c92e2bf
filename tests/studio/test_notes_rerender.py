"""Notes and drawings drive the next render (studio/services/notes.py): "re-render with this note"
appends the note to the prompt as an edit the user confirms; "re-render this region" sends the
drawing as a mask over the commented take; the new take links back to its comment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.urls import reverse
from PIL import Image

from generation.backends.base import RenderRequest
from studio.models import Take, TakeStatus
from studio.services.notes import note_prompt, take_rerender_from_note, take_rerender_region
from studio.services.reviews import comment_create
from tests.studio.views_helpers import client_for

pytestmark = pytest.mark.django_db

LOOP = {"strokes": [{"color": "#ff5a5f", "width": 0.004, "points": [[0.1, 0.1], [0.4, 0.1], [0.4, 0.4], [0.1, 0.4]]}]}


@pytest.fixture
def note(take, alice):
    return comment_create(take=take, author=alice, body="The lantern should already be lit", frame=12)


@pytest.fixture
def drawing(take, alice):
    return comment_create(take=take, author=alice, body="Make her coat red", frame=20, annotation=LOOP)


@pytest.mark.parametrize("prompt, note, expected", [
    ("@mara looks out", "the lantern is lit", "@mara looks out. the lantern is lit"),
    ("@mara looks out.", "  the lantern\n is lit ", "@mara looks out. the lantern is lit"),
    ("", "the lantern is lit", "the lantern is lit"),
    ("@mara looks out. the lantern is lit", "the lantern is lit", "@mara looks out. the lantern is lit"),  # not twice
])
def test_the_note_is_appended_to_the_prompt_as_its_own_sentence(prompt, note, expected):
    assert note_prompt(prompt, note) == expected


def test_a_note_rerender_queues_a_new_take_with_the_confirmed_prompt_linked_to_the_comment(note, take, alice, shot):
    result = take_rerender_from_note(comment=note, actor=alice, prompt="@mara looks out. The lantern is lit, warm")
    new = result.take
    assert result.dispatched and new.id != take.id and new.shot_id == shot.id
    assert new.status == TakeStatus.QUEUED and new.from_comment == note
    assert new.request["prompt"] == "@mara looks out. The lantern is lit, warm"
    assert new.request["region_mask_path"] is None
    shot.refresh_from_db()
    assert shot.prompt == "@mara looks out over the @deck"  # the shot's own prompt is unchanged
    assert list(note.caused_takes.all()) == [new]


def test_asking_again_reuses_the_take_and_an_empty_prompt_is_refused(note, alice):
    first = take_rerender_from_note(comment=note, actor=alice, prompt="@mara looks out. Lit").take
    again = take_rerender_from_note(comment=note, actor=alice, prompt="@mara looks out. Lit")
    assert again.take.id == first.id and not again.dispatched
    before = Take.objects.count()
    with pytest.raises(Exception, match="cannot be empty"):
        take_rerender_from_note(comment=note, actor=alice, prompt="   ")
    assert Take.objects.count() == before


def test_a_region_rerender_sends_the_drawing_as_a_mask_over_the_takes_frames(drawing, take, alice, project):
    new = take_rerender_region(comment=drawing, actor=alice, prompt="@mara looks out. Make her coat red").take
    request = RenderRequest.from_dict(new.request)
    assert new.from_comment == drawing and new.status == TakeStatus.QUEUED
    assert request.source_video_path == take.video.path
    assert request.first_frame_path is None
    mask_path = Path(request.region_mask_path)
    assert mask_path.is_relative_to(Path(settings.MEDIA_ROOT))
    with Image.open(mask_path) as image:
        mask = np.asarray(image.convert("L"))
    assert mask.shape == (project.height, project.width)
    assert mask[int(project.height * 0.25), int(project.width * 0.25)] == 255  # inside the loop: regenerate
    assert mask[int(project.height * 0.8), int(project.width * 0.8)] == 0  # outside: keep
    # A plain re-render with the same prompt is a different render (the mask and source are signed).
    plain = take_rerender_from_note(comment=drawing, actor=alice, prompt="@mara looks out. Make her coat red").take
    assert plain.signature != new.signature


def test_a_comment_without_a_drawing_or_a_take_without_video_cannot_rerender_a_region(note, drawing, take, alice):
    with pytest.raises(Exception, match="no drawing"):
        take_rerender_region(comment=note, actor=alice, prompt="p")
    Path(take.video.path).unlink()
    with pytest.raises(Exception, match="video file is missing"):
        take_rerender_region(comment=drawing, actor=alice, prompt="p")
    assert not Take.objects.filter(from_comment__isnull=False).exists()


def test_the_comment_list_proposes_the_edit_and_the_thread_shows_the_resulting_take(note, take, alice, project):
    client = client_for(alice)
    page = client.get(reverse("review", args=[project.slug, take.shot_id]) + f"?take={take.id}")
    commented = next(c for c in page.context["comments"] if c.id == note.id)
    assert commented.note_prompt == "@mara looks out over the @deck. The lantern should already be lit"
    response = client.post(reverse("comment_rerender", args=[project.slug, note.id]), {"prompt": commented.note_prompt})
    assert response.status_code == 302
    new = Take.objects.get(from_comment=note)
    thread = client.get(reverse("comments", args=[project.slug, take.id]))
    results = next(c for c in thread.context["comments"] if c.id == note.id).caused_takes.all()
    assert [t.id for t in results] == [new.id]
    assert reverse("review", args=[project.slug, take.shot_id]) + f"?take={new.id}" in thread.content.decode()


def test_only_editors_may_rerender_from_a_note_and_outsiders_get_404(note, drawing, users, project):
    for name, expected in (("carol", 403), ("dave", 403), ("eve", 404)):
        client = client_for(users[name])
        for url_name, comment in (("comment_rerender", note), ("comment_rerender_region", drawing)):
            response = client.post(reverse(url_name, args=[project.slug, comment.id]), {"prompt": "x"})
            assert response.status_code == expected, (name, url_name)
    assert not Take.objects.filter(from_comment__isnull=False).exists()


def test_a_region_rerender_of_a_comment_without_a_drawing_says_why_and_writes_nothing(note, bob, project):
    response = client_for(bob).post(reverse("comment_rerender_region", args=[project.slug, note.id]), {"prompt": "x"},
                                    HTTP_HX_REQUEST="true")
    assert response.status_code == 422 and "no drawing" in response.content.decode()
    assert not Take.objects.filter(from_comment__isnull=False).exists()


@pytest.fixture
def bob(users):
    return users["bob"]
