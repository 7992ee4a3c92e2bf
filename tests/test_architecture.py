"""The layering the house depends on, checked with the rest of the suite: `studio` calls
`generation`, never the other way; no import cycles; the engine renders with no Django at all;
function-local imports only where a comment says why; stable Celery task names."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TASK_NAMES = {"generation.tasks.render_take", "generation.tasks.export_cut", "generation.tasks.reconcile_renders"}


def _without_django_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(ROOT)
    return env


def test_the_import_contracts_in_pyproject_hold():
    """lint-imports: generation imports neither studio nor Django; no cycles in either package."""
    lint_imports = Path(sys.executable).with_name("lint-imports")
    assert lint_imports.exists(), "import-linter is a test dependency (pyproject.toml [project.optional-dependencies])"
    done = subprocess.run([str(lint_imports), "--no-cache", "--no-logo"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 kept, 0 broken" in done.stdout


ENGINE_ONLY_RENDER = """
import json, sys
from pathlib import Path
from generation import media
from generation.backends.base import RenderRequest
from generation.render import ClipPaths, render_clip

out = Path(sys.argv[1])
steps = []
clip = render_clip(
    RenderRequest(prompt="a lighthouse at dusk", frames=6, fps=12, width=96, height=64, seed=3),
    backend="animatic",
    output=ClipPaths(video=out / "clip.mp4", poster=out / "poster.jpg", last_frame=out / "last.png"),
    house=media.HouseFormat(width=96, height=64, fps=12),
    on_progress=lambda step, total: steps.append((step, total)),
    should_cancel=lambda: False,
    ffmpeg_timeout=60,
)
print(json.dumps({
    "frames": clip.frames, "decoded": media.decode_frame_count(out / "clip.mp4"), "model": clip.model,
    "backend": clip.provenance["backend"], "last_step": steps[-1],
    "loaded": sorted(name for name in sys.modules if name.split(".")[0] in {"django", "studio", "celery", "channels"}),
}))
"""


def test_the_engine_renders_a_clip_with_no_django_settings(tmp_path, ffmpeg_available):
    done = subprocess.run([sys.executable, "-c", ENGINE_ONLY_RENDER, str(tmp_path)], cwd=tmp_path,
                          env=_without_django_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["loaded"] == []  # not django, not studio, nor anything of the web side
    assert report["frames"] == 6 and report["decoded"] == 6
    assert report["backend"] == "animatic" and report["model"] and report["last_step"] == [6, 6]
    for name in ("clip.mp4", "poster.jpg", "last.png"):
        assert (tmp_path / name).stat().st_size > 0


def test_a_cancel_stops_the_engine_before_anything_is_written(tmp_path, ffmpeg_available):
    from generation import media
    from generation.backends.base import RenderCancelled, RenderRequest
    from generation.render import ClipPaths, render_clip

    reports = []
    output = ClipPaths(video=tmp_path / "c.mp4", poster=tmp_path / "c.jpg", last_frame=tmp_path / "c.png")
    with pytest.raises(RenderCancelled):
        render_clip(RenderRequest(prompt="x", frames=8, fps=8, width=64, height=64), backend="animatic", output=output,
                    house=media.HouseFormat(width=64, height=64, fps=8), on_progress=lambda s, t: reports.append(s),
                    should_cancel=lambda: len(reports) >= 3)
    assert reports == [1, 2, 3]
    assert list(tmp_path.iterdir()) == []  # no clip, no partial file


def test_an_unknown_backend_is_named_by_the_engine_and_a_validation_error_in_the_studio():
    from django.core.exceptions import ValidationError

    from generation.backends.base import RenderError
    from generation.backends.registry import UnknownBackend, build_backend, default_steps
    from studio.backends import validate_backend_name

    with pytest.raises(UnknownBackend, match="'sora'.*animatic"):
        build_backend("sora")
    assert issubclass(UnknownBackend, RenderError)  # a render of it fails the take with this message
    with pytest.raises(ValidationError, match="Unknown generation backend 'sora'"):
        validate_backend_name("sora")
    assert (default_steps("animatic"), default_steps("wan"), default_steps("ltx"), default_steps("tiny")) == (1, 30, 40, 3)


def _function_local_imports(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    lines = path.read_text().splitlines()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                if isinstance(inner, (ast.Import, ast.ImportFrom)):
                    yield inner.lineno, lines[inner.lineno - 1].strip()


def test_every_function_local_import_says_why_it_is_lazy():
    unexplained = []
    for package in ("studio", "generation"):
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if "/migrations/" in relative:
                continue
            unexplained += [f"{relative}:{line}: {text}" for line, text in _function_local_imports(path)
                            if "# lazy:" not in text]
    assert unexplained == []


def test_a_worker_finds_the_tasks_under_their_stable_names():
    """What `celery -A studio worker` does at start: autodiscovery registers the three task names
    that messages queued by older releases carry."""
    script = ("import django; django.setup(); from studio.celery import app; app.loader.import_default_modules(); "
              "print(' '.join(sorted(name for name in app.tasks if name.startswith('generation.'))))")
    env = {**_without_django_env(), "DJANGO_SETTINGS_MODULE": "studio.settings"}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert set(done.stdout.split()) == TASK_NAMES
