"""The demo project a newcomer clicks through: a short script, a cast (painted places and props,
photographed faces: studio/demo/faces.py), a cut."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction

from studio.demo import artwork, faces
from studio.models import CastKind, CastMember, Project, RightsStatus, Shot, ShotCast
from studio.services.cast import cast_member_update, reference_image_add
from studio.services.cuts import cut_create
from studio.services.projects import project_create
from studio.services.script import script_import
from studio.services.shots import shot_update

DEMO_SLUG = "lighthouse-keeper"
DEMO_USER, DEMO_PASSWORD = "demo", "continuity-demo"
DEMO_SCRIPT = Path(__file__).resolve().parent.parent / "demo" / "lighthouse_keeper.fountain"


@transaction.atomic
def demo_project_ensure(*, backend: str = "animatic", with_login: bool = False) -> tuple[Project, bool]:
    """Create the demo user and project once; later calls return the existing project.

    The demo user owns the project but cannot sign in, unless `with_login`: then it is a superuser
    with the published password DEMO_PASSWORD, which only `make run`'s demo on one's own machine
    may have (run_studio, or seed_demo --with-demo-login, which print a warning)."""
    user = _demo_user(with_login=with_login)
    existing = Project.objects.filter(slug=DEMO_SLUG).first()
    if existing:
        return existing, False
    project = project_create(owner=user, name="The Lighthouse Keeper", slug=DEMO_SLUG, default_backend=backend,
                             description="A four-scene short to click through: cast, board, renders, review and a cut.")
    script_import(project=project, actor=user, data=DEMO_SCRIPT.read_bytes(), filename=DEMO_SCRIPT.name)
    _paint_cast(project, user)
    _stage_shots(project, user)
    _make_one_shot_drift(project)
    cut_create(project=project, actor=user, name="Assembly")
    return project, True


def _demo_user(*, with_login: bool):
    user, created = get_user_model().objects.get_or_create(username=DEMO_USER, defaults={"email": "demo@example.com"})
    if with_login and not (user.is_superuser and user.check_password(DEMO_PASSWORD)):
        user.is_staff = user.is_superuser = True
        user.set_password(DEMO_PASSWORD)
        user.save()
    elif created:
        user.set_unusable_password()
        user.save()
    return user


# A different size and move per scene, so the first renders show what the animatic can do.
DEMO_STAGING = [("WS", "push_in", 24), ("MS", "pan_right", 35), ("MCU", "handheld", 50), ("WS", "pull_out", 28)]


def _stage_shots(project: Project, user) -> None:
    shots = Shot.objects.alive().filter(scene__project=project).order_by("scene__order", "order")
    for shot, (size, move, lens) in zip(shots, DEMO_STAGING * 4):
        shot_update(shot=shot, actor=user, shot_size=size, camera_move=move, lens_mm=lens)


# The shot that drifts on purpose, so a newcomer's first render shows the identity warning: at sea,
# NINA is drawn with ELSE's photograph (a stand-in), and her score says the take is someone else.
DRIFTING_SHOT = {"scene_order": 3, "handle": "nina", "stand_in": "else"}


def _make_one_shot_drift(project: Project) -> None:
    link = ShotCast.objects.live().filter(shot__scene__project=project, shot__scene__order=DRIFTING_SHOT["scene_order"],
                                         cast_member__handle=DRIFTING_SHOT["handle"]).first()
    stand_in = CastMember.objects.alive().filter(project=project, handle=DRIFTING_SHOT["stand_in"]).first()
    if link is not None and stand_in is not None:
        link.stand_in = stand_in
        link.save(update_fields=["stand_in"])


def _paint_cast(project: Project, user) -> None:
    for member in project.cast.alive():
        data, rights_status, rights_note = _reference_for(member)
        # The status first: a new image takes its member's (the demo's are all owned or licensed).
        member = cast_member_update(member=member, actor=user, rights_status=rights_status, rights_note=rights_note)
        reference_image_add(member=member, actor=user, data=data, label=member.name)


def _reference_for(member) -> tuple[bytes, str, str]:
    """The member's reference image (PNG bytes) with its rights status and note."""
    painted = (RightsStatus.OWNED, "Painted for the demo.")
    if member.kind == CastKind.LOCATION:
        scene = member.scenes_located.first()
        heading = scene.heading.upper() if scene else ""
        return artwork.location_png(member.name, interior=heading.startswith("INT"), night="NIGHT" in heading), *painted
    if member.kind == CastKind.OBJECT:
        return artwork.object_png(member.name), *painted
    portrait = faces.portrait_for(member.name)  # a real face, so the first renders get identity scores
    if portrait is not None:
        return portrait.png, RightsStatus.LICENSED, portrait.rights_note
    return artwork.character_png(member.name), *painted
