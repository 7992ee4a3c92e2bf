"""Storyboard PDFs, shot lists (CSV and PDF) and draft exports of cuts that are not final.

The PDFs are read back with pypdf (pages, text, the images drawn on each page), the CSV with the
csv module; downloads go through the test client with every role."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.urls import reverse
from PIL import Image
from pypdf import PdfReader

from generation import media
from studio.models import CutEntry, Export, ShotSize, TakeStatus
from studio.services.cuts import cut_create
from studio.services.demo import demo_project_ensure
from studio.services.exports import export_run
from studio.services.reviews import review_decide
from studio.services.script import script_import
from studio.services.sharing import review_link_create
from studio.services.shots import shot_create, shot_update
from tests.studio.test_query_counts import SIZES, build_studio
from tests.studio.views_helpers import client_for, finished_take

pytestmark = pytest.mark.django_db

A4_LANDSCAPE = (841.89, 595.28)
LETTER_LANDSCAPE = (792.0, 612.0)
HOSTILE = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1", "-2", "@mara =cmd|' /C calc'!A0", 'say "hi", then go', "two\nlines",
           "Zoë", "王", "\tTAB", "\rCR"]

SCRIPT = b"""Title: Night Ferry
Credit: Written by
Author: Ana Lund
Draft date: 2 December 2026

INT. FERRY DECK - NIGHT

Rain sweeps the deck.

MARA
Hold the line.
"""


def _pictured_take(shot, number: int = 1, color=(200, 120, 40)):
    """A finished take whose poster is a real JPEG (the helper's poster is a stub)."""
    take = finished_take(shot, number)
    Image.new("RGB", (160, 90), color).save(Path(settings.MEDIA_ROOT) / take.poster.name, "JPEG")
    return take


def _images_drawn(page) -> int:
    """Image XObjects painted on a page (a `Do` of an image), whether or not two share bytes."""
    names = {name for name, obj in page["/Resources"].get("/XObject", {}).items() if obj.get_object()["/Subtype"] == "/Image"}
    data = page.get_contents().get_data()
    return sum(len(re.findall(re.escape(name.encode()) + rb"\s+Do", data)) for name in names)


def _pdf(response) -> PdfReader:
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    return PdfReader(io.BytesIO(response.content))


@pytest.fixture
def board(project, scene, cast, alice):
    """Seven shots in the scene (so 2 pages of 2×3 panels): 1A approved with a real poster,
    1B rendered but not approved, the rest unrendered, casting @mara."""
    shots = [shot_create(scene=scene, actor=alice, prompt=f"@mara beat {n}", code=f"1{chr(65 + n)}") for n in range(7)]
    approved = _pictured_take(shots[0])
    review_decide(take=approved, actor=alice, decision="approved")
    _pictured_take(shots[1], color=(40, 120, 200))
    return shots


# --- Storyboard PDF ------------------------------------------------------------------------------

def test_a_scene_storyboard_has_a_page_per_six_panels_with_headings_codes_and_one_image_each(project, scene, board, alice):
    script_import(project=project, actor=alice, data=SCRIPT, filename="ferry.fountain")
    url = reverse("project_storyboard", args=[project.slug]) + f"?scene={scene.id}"
    reader = _pdf(client_for(alice).get(url))
    assert len(reader.pages) == 2
    text = [page.extract_text() for page in reader.pages]
    assert all("Night Ferry" in t and "INT. FERRY DECK - NIGHT" in t for t in text)
    assert "Page 1 of 2" in text[0] and "Page 2 of 2" in text[1]
    for code in ("1A", "1B", "1C", "1D", "1E", "1F"):
        assert f"{code} · INT. FERRY DECK - NIGHT" in text[0]
    assert "1G · INT. FERRY DECK - NIGHT" in text[1]
    assert "Medium · Static · 35 mm · 3 s" in text[0]
    assert "mara beat 0" in text[0] and "MARA: Hold the line." in text[0]  # prompt, and dialogue from the script
    assert "Ana Lund" in text[0]
    assert [_images_drawn(page) for page in reader.pages] == [6, 1]


def test_panels_show_the_poster_or_the_cast_references_and_never_a_blank(project, scene, board, alice):
    reader = _pdf(client_for(alice).get(reverse("project_storyboard", args=[project.slug])))
    pictures = [image.image for image in reader.pages[0].images]
    colours = {image.convert("RGB").resize((1, 1)).getpixel((0, 0)) for image in pictures}
    # 1A's orange poster, 1B's blue one, and @mara's red reference (shared by the unrendered shots).
    assert any(r > 150 and b < 90 for r, g, b in colours)
    assert any(b > 150 and r < 90 for r, g, b in colours)
    assert len(pictures) == 3 and _images_drawn(reader.pages[0]) == 6


def test_a_take_without_a_poster_shows_a_frame_from_its_video(project, scene, cast, alice, ffmpeg_available):
    shot = shot_create(scene=scene, actor=alice, prompt="a green sea", code="9A")
    take = finished_take(shot)
    video = Path(settings.MEDIA_ROOT) / take.video.name
    green = (np.zeros((72, 128, 3), np.uint8) + np.array([20, 200, 40], np.uint8) for _ in range(12))
    media.encode_frames(green, media.HouseFormat(width=128, height=72, fps=24), video)
    take.poster = ""
    take.save(update_fields=["poster"])
    reader = _pdf(client_for(alice).get(reverse("project_storyboard", args=[project.slug])))
    (picture,) = [image.image.convert("RGB") for image in reader.pages[0].images]
    r, g, b = picture.resize((1, 1)).getpixel((0, 0))
    assert g > 150 and r < 80 and b < 90


@pytest.mark.parametrize(("paper", "layout", "size", "pages"), [
    ("a4", "2x3", A4_LANDSCAPE, 2), ("letter", "2x3", LETTER_LANDSCAPE, 2), ("letter", "3x3", LETTER_LANDSCAPE, 1),
    ("a4", "3x3", A4_LANDSCAPE, 1),
])
def test_paper_and_layout(project, board, alice, paper, layout, size, pages):
    response = client_for(alice).get(reverse("project_storyboard", args=[project.slug]) + f"?paper={paper}&layout={layout}")
    reader = _pdf(response)
    assert len(reader.pages) == pages
    box = reader.pages[0].mediabox
    assert (round(float(box.width), 2), round(float(box.height), 2)) == size
    assert f"storyboard-{paper}.pdf" in response["Content-Disposition"]
    assert sum(_images_drawn(page) for page in reader.pages) == 7


def test_an_unknown_paper_or_layout_is_refused(project, board, alice):
    url = reverse("project_storyboard", args=[project.slug])
    assert client_for(alice).get(url + "?paper=a3").status_code == 400
    assert client_for(alice).get(url + "?layout=4x4").status_code == 400


def test_a_cut_storyboard_follows_the_cut_order_and_shows_the_chosen_take(project, board, alice):
    cut = cut_create(project=project, actor=alice, name="Short", from_board=False)
    for order, shot in enumerate([board[1], board[0]]):
        CutEntry.objects.create(cut=cut, shot=shot, order=order)
    reader = _pdf(client_for(alice).get(reverse("cut_storyboard", args=[project.slug, cut.id])))
    text = reader.pages[0].extract_text()
    assert "Cut: Short" in text
    assert text.index("1B · INT.") < text.index("1A · INT.")
    assert "1C · INT." not in text
    assert _images_drawn(reader.pages[0]) == 2


# --- Shot list -----------------------------------------------------------------------------------

def test_the_shot_list_csv_round_trips_hostile_values_and_neutralises_formulas(project, scene, cast, alice):
    for n, text in enumerate(HOSTILE):
        shot_create(scene=scene, actor=alice, prompt=text, code=f"H{n}")
    cast["mara"].name = "王 Zoë, \"the\" =Mara"
    cast["mara"].save()
    shot = shot_create(scene=scene, actor=alice, prompt="@mara waits", code="=cmd")
    shot_update(shot=shot, actor=alice, shot_size=ShotSize.CU, lens_mm=85)
    response = client_for(alice).get(reverse("shot_list_csv", args=[project.slug]))
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    assert response.content.startswith(b"\xef\xbb\xbf")  # the BOM: Excel then reads UTF-8
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))
    assert rows[0] == ["Scene", "Shot", "Description", "Size", "Move", "Lens (mm)", "Duration (s)", "Cast", "Status",
                       "Approved take"]
    expected = ["'" + t if t[0] in "=+-@\t\r" else t for t in HOSTILE]
    assert [row[2] for row in rows[1:len(HOSTILE) + 1]] == expected
    last = rows[-1]
    assert last[:2] == ["INT. FERRY DECK - NIGHT", "'=cmd"]
    assert last[3:] == ["Close-up", "Static", "85", "3", "王 Zoë, \"the\" =Mara", "not rendered", ""]
    assert all(len(row) == 10 for row in rows)


def test_the_shot_list_names_status_and_approved_take(project, board, alice):
    rows = list(csv.reader(io.StringIO(client_for(alice).get(reverse("shot_list_csv", args=[project.slug])).content
                                       .decode("utf-8-sig"))))
    by_code = {row[1]: row for row in rows[1:]}
    assert (by_code["1A"][8], by_code["1A"][9]) == ("approved", "T1")
    assert (by_code["1B"][8], by_code["1B"][9]) == ("needs review", "")
    assert (by_code["1C"][8], by_code["1C"][7]) == ("not rendered", "Mara")


def test_the_shot_list_pdf(project, board, alice):
    reader = _pdf(client_for(alice).get(reverse("shot_list_pdf", args=[project.slug]) + "?paper=letter"))
    words = " ".join(reader.pages[0].extract_text().split())  # cells wrap inside their columns
    assert "Night Ferry Shot list" in words and "Page 1 of 1" in words
    assert "Scene Shot Description Size Move Lens (mm) Duration (s) Cast Status Approved take" in words
    assert "INT. FERRY DECK - NIGHT 1A @mara beat 0 Medium Static 35 3 Mara approved T1" in words
    assert "INT. FERRY DECK - NIGHT 1B @mara beat 1 Medium Static 35 3 Mara needs review INT." in words
    assert "1G @mara beat 6 Medium Static 35 3 Mara not rendered" in words
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (792, 612)


# --- Who may download ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["project_storyboard", "shot_list_csv", "shot_list_pdf", "cut_storyboard"])
def test_every_member_downloads_and_an_outsider_gets_404(project, board, users, alice, name):
    cut = cut_create(project=project, actor=alice, name="Assembly")
    url = reverse(name, args=[project.slug, cut.id] if name == "cut_storyboard" else [project.slug])
    for member in ("alice", "bob", "carol", "dave"):
        assert client_for(users[member]).get(url).status_code == 200
    assert client_for(users["eve"]).get(url).status_code == 404
    assert client_for(None).get(url).status_code == 302  # to the sign-in page


def test_a_scene_of_another_project_is_404(project, board, alice):
    other, _ = demo_project_ensure()
    other_scene = other.scenes.first()
    url = reverse("project_storyboard", args=[project.slug]) + f"?scene={other_scene.id}"
    assert client_for(alice).get(url).status_code == 404
    assert client_for(alice).get(reverse("project_storyboard", args=[project.slug]) + "?scene=x").status_code == 404


# --- The demo project ----------------------------------------------------------------------------

def test_the_demo_storyboard_and_shot_list_download_from_the_board(client):
    project, _ = demo_project_ensure(with_login=True)
    client.login(username="demo", password="continuity-demo")
    board = client.get(reverse("board", args=[project.slug])).content.decode()
    storyboard_url = reverse("project_storyboard", args=[project.slug])
    assert f'href="{storyboard_url}"' in board and f'href="{reverse("shot_list_csv", args=[project.slug])}"' in board
    reader = _pdf(client.get(storyboard_url))
    shots = list(project.scenes.filter(omitted=False).values_list("shots__code", flat=True))
    text = "".join(page.extract_text() for page in reader.pages)
    assert "The Lighthouse Keeper" in text and "EXT. LIGHTHOUSE CLIFF - DUSK" in text
    assert "Forty years. Not one night dark." in text  # dialogue from the demo script
    assert sum(_images_drawn(page) for page in reader.pages) == len(shots)
    rows = list(csv.reader(io.StringIO(client.get(reverse("shot_list_csv", args=[project.slug])).content.decode("utf-8-sig"))))
    assert sorted(row[1] for row in rows[1:]) == sorted(shots)


# --- Query counts ----------------------------------------------------------------------------------

DOWNLOADS = {  # user (the session: cached), the project with the member's role; then shots, cast, reference images, takes; script (+ scene / cut)
    "storyboard": (lambda s: reverse("project_storyboard", args=[s.project.slug]), 7),
    "scene storyboard": (lambda s: reverse("project_storyboard", args=[s.project.slug]) + f"?scene={s.shot.scene_id}", 8),
    "cut storyboard": (lambda s: reverse("cut_storyboard", args=[s.project.slug, s.cut.id]), 8),
    "shot list csv": (lambda s: reverse("shot_list_csv", args=[s.project.slug]), 6),
    "shot list pdf": (lambda s: reverse("shot_list_pdf", args=[s.project.slug]), 7),
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("download", DOWNLOADS)
def test_a_download_costs_the_same_queries_at_every_size(download, size, project, alice, django_assert_num_queries):
    studio = build_studio(project, alice, size)
    url, expected = DOWNLOADS[download][0](studio), DOWNLOADS[download][1]
    client = client_for(alice)
    with django_assert_num_queries(expected):
        response = client.get(url)
    assert response.status_code == 200


# --- A cut that warns before it lies -------------------------------------------------------------

@pytest.fixture
def draft_cut(project, board, alice):
    """1A approved; 1B plays a finished take nobody approved."""
    cut = cut_create(project=project, actor=alice, name="Assembly", from_board=False)
    for order, shot in enumerate(board[:2]):
        CutEntry.objects.create(cut=cut, shot=shot, order=order)
    return cut


def _export(client, project, cut, **fields):
    return client.post(reverse("export_new", args=[project.slug, cut.id]), {"format": "manifest", **fields},
                       headers={"HX-Request": "true"})


def test_the_cut_editor_marks_unapproved_entries(project, draft_cut, board, alice):
    page = client_for(alice).get(reverse("cut_editor", args=[project.slug, draft_cut.id])).content.decode()
    marked = re.findall(r'<li class="entry( unapproved)?" data-id="(\d+)"', page)
    by_entry = {int(entry_id): bool(flag) for flag, entry_id in marked}
    entries = {e.shot.code: e.id for e in draft_cut.entries.select_related("shot")}
    assert by_entry == {entries["1A"]: False, entries["1B"]: True}
    assert page.count("data-unapproved") == 1


def test_the_guest_player_marks_unapproved_shots(project, draft_cut, alice):
    _, token = review_link_create(project=project, actor=alice, cut=draft_cut)
    page = client_for(None).get(reverse("guest_review", args=[token])).content.decode()
    rows = re.findall(r'<li class="take-row[^"]*">(.*?)</li>', page, re.S)
    assert [("1A" in row, "data-unapproved" in row) for row in rows] == [(True, False), (False, True)]


def test_exporting_an_unapproved_cut_asks_first_then_exports_a_draft_that_names_the_shots(project, draft_cut, board, alice):
    client = client_for(alice)
    asked = _export(client, project, draft_cut)
    assert asked.status_code == 200 and not Export.objects.exists()
    page = asked.content.decode()
    assert 'data-draft="unapproved">1B<' in page and 'name="confirm_draft" value="1"' in page
    assert _export(client, project, draft_cut, confirm_draft="1").status_code == 200
    export = Export.objects.get()
    export_run(export_id=export.id)
    export.refresh_from_db()
    assert export.status == "succeeded", export.error
    assert export.file.name.endswith(f"assembly-{export.id} (draft).json")
    assert export.warnings == ["Draft: 1B is not approved"]
    manifest = json.loads(Path(export.file.path).read_text())
    assert manifest["draft"] is True
    assert manifest["not_final"] == {"unapproved": ["1B"], "stale": [], "failed": [], "missing": []}


def test_a_stale_or_failed_shot_also_makes_a_draft(project, draft_cut, board, alice):
    second = _pictured_take(board[1], 2)
    review_decide(take=second, actor=alice, decision="approved")
    shot_update(shot=board[0], actor=alice, prompt="@mara turns away")  # changed since T1 was rendered
    failed = finished_take(board[1], 3)
    failed.status = TakeStatus.FAILED
    failed.save(update_fields=["status"])
    page = _export(client_for(alice), project, draft_cut).content.decode()
    assert 'data-draft="stale">1A<' in page and 'data-draft="failed">1B<' in page and 'data-draft="unapproved"' not in page


def test_an_all_approved_cut_exports_at_once_and_is_no_draft(project, draft_cut, board, alice):
    review_decide(take=board[1].takes.get(), actor=alice, decision="approved")
    response = _export(client_for(alice), project, draft_cut)
    assert response.status_code == 200
    export = Export.objects.get()
    export_run(export_id=export.id)
    export.refresh_from_db()
    assert export.file.name.endswith(f"assembly-{export.id}.json") and "draft" not in export.file.name
    assert export.warnings == []
    manifest = json.loads(Path(export.file.path).read_text())
    assert manifest["draft"] is False
    page = client_for(alice).get(reverse("cut_editor", args=[project.slug, draft_cut.id])).content.decode()
    assert "data-unapproved" not in page and "entry unapproved" not in page
