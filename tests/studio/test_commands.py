"""Management commands: the project checks clean, migrations match the models, the demo seeds once,
and import_script explains what is wrong instead of printing a traceback."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core import checks
from django.core.management import CommandError, call_command

from studio.models import CastKind, Cut, Project, ReferenceImage, RightsStatus, Scene, Shot

SCRIPTS = Path(__file__).resolve().parent.parent / "fixtures" / "scripts"


def run(*args, **options) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue()


def test_system_checks_are_clean(db):
    # Clean: the only message is the report of which ffmpeg the engine runs (studio/checks.py).
    assert [(issue.level, issue.id) for issue in checks.run_checks()] == [(checks.INFO, "continuity.I001")]
    run("check", fail_level="WARNING")  # the command agrees: it raises on any warning or error


def test_seed_demo_creates_no_login_unless_asked_and_warns_when_it_does(db):
    out, err = io.StringIO(), io.StringIO()
    call_command("seed_demo", stdout=out, stderr=err)
    demo = get_user_model().objects.get(username="demo")
    assert not demo.has_usable_password() and not demo.is_staff and not demo.is_superuser
    assert "continuity-demo" not in out.getvalue() + err.getvalue()
    assert Project.objects.get(slug="lighthouse-keeper").memberships.get(user=demo).role == "owner"
    assert "at /p/lighthouse-keeper/." in out.getvalue()  # where the project really lives

    call_command("seed_demo", "--with-demo-login", stdout=out, stderr=err)  # run_studio's path, on the same database
    demo.refresh_from_db()
    assert demo.check_password("continuity-demo") and demo.is_superuser
    assert "WARNING" in err.getvalue() and "createsuperuser" in err.getvalue()


def test_migrations_match_the_models(db):
    try:
        run("makemigrations", "--check", "--dry-run")
    except SystemExit as exc:  # makemigrations --check exits 1 when a migration is missing
        pytest.fail(f"models and migrations differ (exit {exc.code}); run makemigrations")


def test_seed_demo_is_idempotent(db):
    first = run("seed_demo", "--with-demo-login")
    assert "Created the demo project" in first
    project = Project.objects.get(slug="lighthouse-keeper")
    counts = (Scene.objects.count(), Shot.objects.count(), ReferenceImage.objects.count(), Cut.objects.count())

    second = run("seed_demo")
    assert "Found the demo project" in second
    assert Project.objects.count() == 1
    assert (Scene.objects.count(), Shot.objects.count(), ReferenceImage.objects.count(), Cut.objects.count()) == counts

    demo = get_user_model().objects.get(username="demo")
    assert demo.check_password("continuity-demo") and demo.is_staff and demo.is_superuser
    assert project.memberships.get(user=demo).role == "owner"
    assert project.default_backend == "animatic"
    assert counts[0] >= 3 and counts[1] == counts[0]  # a first shot per scene
    cast = list(project.cast.alive())
    assert {c.kind for c in cast} >= {CastKind.CHARACTER, CastKind.LOCATION}
    for member in cast:
        # Painted for the demo, or a public-domain portrait (studio/demo/faces.py): never unknown.
        photographed = member.handle in ("else", "nina")
        assert member.rights_status == (RightsStatus.LICENSED if photographed else RightsStatus.OWNED), member
        assert member.rights_note.startswith("Public domain" if photographed else "Painted"), member
        assert member.images.filter(is_primary=True).count() == 1, member
    assert list(project.cuts.alive().values_list("name", flat=True)) == ["Assembly"]
    assert project.cuts.get().entries.count() == counts[1]
    assert all(s.scene.location_cast_id for s in Shot.objects.select_related("scene"))


def test_import_script_command(project):
    output = run("import_script", "--project", project.slug, str(SCRIPTS / "lighthouse_keeper.fountain"))
    assert "Imported script version 1" in output
    assert "+ EXT. LIGHTHOUSE CLIFF - DUSK" in output
    assert Scene.objects.filter(project=project).count() == 4
    again = run("import_script", "--project", project.slug, str(SCRIPTS / "lighthouse_keeper.fountain"))
    assert "unchanged since version 1" in again
    edited = run("import_script", "--project", project.slug, str(SCRIPTS / "lighthouse_keeper_v2.fountain"))
    assert "- EXT. FISHING BOAT - NIGHT (omitted; its shots are kept)" in edited


def test_import_script_no_shots(project):
    run("import_script", "--project", project.slug, "--no-shots", str(SCRIPTS / "lighthouse_keeper.fountain"))
    assert Scene.objects.filter(project=project).count() == 4
    assert not Shot.objects.exists()


def test_import_script_unknown_project(db):
    with pytest.raises(CommandError, match="No project with slug 'nope'"):
        run("import_script", "--project", "nope", str(SCRIPTS / "lighthouse_keeper.fountain"))


def test_import_script_trashed_project_is_unknown(project):
    from django.utils import timezone

    Project.objects.filter(pk=project.pk).update(deleted_at=timezone.now())
    with pytest.raises(CommandError, match="No project with slug"):
        run("import_script", "--project", project.slug, str(SCRIPTS / "lighthouse_keeper.fountain"))


def test_import_script_binary_file(project, tmp_path):
    binary = tmp_path / "poster.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10")
    with pytest.raises(CommandError, match=r"poster\.png: .*binary"):
        run("import_script", "--project", project.slug, str(binary))
    assert not Scene.objects.exists()


def test_import_script_missing_file(project, tmp_path):
    with pytest.raises(CommandError, match="Cannot read .*missing.fountain"):
        run("import_script", "--project", project.slug, str(tmp_path / "missing.fountain"))
