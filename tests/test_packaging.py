"""Packaging a laptop and a GPU farm both accept: torch only in the `gpu` extra (and neither the
studio nor an animatic render imports it), a licence, the tiny backend kept from users, and the
Dockerfile and compose file checked as far as a machine without a Docker engine can."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from tests.conftest import require

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
GPU_STACK = {"torch", "diffusers", "transformers", "tokenizers", "accelerate", "ftfy", "sentencepiece", "huggingface-hub"}


def _names(requirements: list[str]) -> set[str]:
    return {Requirement(r).name.lower() for r in requirements}


# --- Dependencies ---------------------------------------------------------------------------------

def test_the_diffusion_stack_is_only_in_the_gpu_extra_with_floors_the_code_needs():
    project = PYPROJECT["project"]
    assert _names(project["dependencies"]).isdisjoint(GPU_STACK)
    gpu = {Requirement(r).name.lower(): Requirement(r) for r in project["optional-dependencies"]["gpu"]}
    assert set(gpu) == GPU_STACK
    for name, requirement in gpu.items():
        assert not any(spec.operator == "==" for spec in requirement.specifier), f"{name} is pinned for everyone"
    # generation/backends/diffusion.py calls from_pretrained(dtype=...): diffusers before 0.42 (the
    # oldest release checked to accept it) and transformers before 4.56 only take torch_dtype.
    assert "dtype=load_dtypes(" in (ROOT / "generation/backends/diffusion.py").read_text()
    assert not gpu["diffusers"].specifier.contains("0.41.0") and gpu["diffusers"].specifier.contains("0.42.1")
    assert not gpu["transformers"].specifier.contains("4.55.0")


def _dry_run(target: str, report: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                           "--report", str(report), target], cwd=ROOT, capture_output=True, text=True, timeout=540)


@pytest.mark.slow
def test_pip_installs_no_torch_without_the_gpu_extra_and_torch_with_it():
    with tempfile.TemporaryDirectory() as scratch, ThreadPoolExecutor(2) as pool:
        reports = {target: Path(scratch) / f"{n}.json" for n, target in enumerate([".", ".[gpu]"])}
        runs = dict(zip(reports, pool.map(lambda target: _dry_run(target, reports[target]), reports)))
        for target, result in runs.items():
            require(result.returncode == 0, f"a package index pip can resolve {target!r} from ({result.stderr[-300:]})")
        installs = {target: {item["metadata"]["name"].lower() for item in json.loads(report.read_text())["install"]}
                    for target, report in reports.items()}
    assert "continuity" in installs["."]
    assert installs["."].isdisjoint({"torch", "diffusers", "transformers", "accelerate"})
    assert {"torch", "diffusers", "transformers", "accelerate"} <= installs[".[gpu]"]


def test_the_makefile_installs_the_gpu_extra_for_the_tests_only():
    dry = lambda goal: subprocess.run(["make", "-n", "-B", goal], cwd=ROOT, capture_output=True, text=True,  # noqa: E731
                                      timeout=60, env={**os.environ, "VENV": "/nonexistent-venv"}).stdout
    test_installs = [line for line in dry("test").splitlines() if "pip install" in line and "-e" in line]
    run_installs = [line for line in dry("run").splitlines() if "pip install" in line and "-e" in line]
    assert test_installs and all("'.[gpu,test]'" in line and "'torch==2.13.0'" in line for line in test_installs)
    assert run_installs and not any("gpu" in line or "torch" in line for line in run_installs)


# --- The studio without torch ----------------------------------------------------------------------

WITHOUT_TORCH = r"""
import json, sys

BLOCKED = {"torch", "diffusers", "transformers", "accelerate"}

class NoGpuPackages:  # as if `pip install continuity` ran without the gpu extra
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoGpuPackages())

import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
import studio.urls, studio.asgi, studio.tasks, studio.admin, studio.consumers  # the web process and the worker
from django.contrib.auth import get_user_model
from django.test import Client
from studio.models import Take
from studio.services.projects import project_create
from studio.services.render_requests import take_request
from studio.services.renders import run_take
from studio.services.shots import scene_create, shot_create

alice = get_user_model().objects.create_user("alice", password="pw-alice-1234")
outcome = {}
for backend in ("animatic", "tiny"):
    project = project_create(owner=alice, name=f"Pier {backend}", fps=12, width=160, height=90, default_backend=backend)
    scene = scene_create(project=project, actor=alice, heading="EXT. PIER - DAY")
    shot = shot_create(scene=scene, actor=alice, prompt="waves under the pier", duration_s=1)
    take = take_request(shot=shot, actor=alice).take
    run_take(take.id)
    take = Take.objects.get(pk=take.id)
    outcome[backend] = {"status": take.status, "error": take.error, "video": bool(take.video)}
client = Client()
client.force_login(alice)
outcome["board"] = client.get(f"/p/{project.slug}/", secure=True).status_code
outcome["gpu_modules"] = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
print(json.dumps(outcome))
"""


@pytest.mark.slow
def test_the_studio_renders_an_animatic_take_without_torch_and_gpu_backends_say_what_to_install(ffmpeg_available):
    with tempfile.TemporaryDirectory(prefix="notorch-") as var_dir:
        kept = {k: v for k, v in os.environ.items()
                if k not in {"REDIS_URL", "DATABASE_URL", "DJANGO_SETTINGS_MODULE"} and not k.startswith("CONTINUITY_")}
        env = kept | {"CONTINUITY_VAR_DIR": var_dir, "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "studio.settings",
                      "ALLOWED_HOSTS": "testserver,localhost"}
        result = subprocess.run([sys.executable, "-c", WITHOUT_TORCH], cwd=ROOT, env=env, capture_output=True, text=True,
                                timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["animatic"] == {"status": "succeeded", "error": "", "video": True}
    assert outcome["tiny"]["status"] == "failed" and not outcome["tiny"]["video"]
    assert "pip install 'continuity[gpu]'" in outcome["tiny"]["error"] and "Traceback" not in outcome["tiny"]["error"]
    assert outcome["board"] == 200
    assert outcome["gpu_modules"] == []


# --- Licence and the tiny backend -----------------------------------------------------------------

def test_the_licence_is_named_in_pyproject_and_shipped():
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    assert PYPROJECT["project"]["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text


@pytest.mark.django_db
def test_the_tiny_backend_is_offered_to_operators_only(settings):
    from studio.forms import ProjectForm

    def offered() -> set[str]:
        return {name for name, _ in ProjectForm().fields["default_backend"].choices}

    settings.CONTINUITY_OFFER_TINY_BACKEND = False
    assert "tiny" not in offered() and "animatic" in offered()
    form = ProjectForm(data={"name": "Pier", "fps": 24, "resolution": "1280x720", "default_backend": "tiny"})
    assert not form.is_valid() and "default_backend" in form.errors
    settings.CONTINUITY_OFFER_TINY_BACKEND = True
    assert "tiny" in offered()


# --- Dockerfile and compose.yaml (no Docker engine here: checked by reading them) -------------------

def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def test_the_dockerfile_is_pinned_runs_as_a_user_and_fetches_nothing_by_url():
    instructions = _dockerfile_instructions()
    froms = [args for op, args in instructions if op == "FROM"]
    assert froms and all(re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+[\w.-]*(@sha256:[0-9a-f]{64})?( AS \w+)?", f, re.I) for f in froms), froms
    assert not any(op == "ADD" for op, _ in instructions)  # COPY only: no remote URLs, no implicit unpacking
    users = [args for op, args in instructions if op == "USER"]
    assert users and users[-1] not in {"root", "0"}
    last_user = max(i for i, (op, _) in enumerate(instructions) if op == "USER")
    assert instructions[-1][0] == "CMD" and last_user < len(instructions) - 1
    runs = " ".join(args for op, args in instructions if op == "RUN")
    assert "apt-get install" in runs and "--no-install-recommends" in runs and "rm -rf /var/lib/apt/lists" in runs
    assert not re.search(r"\b(curl|wget)\b", runs)
    assert "ARG EXTRAS" in (ROOT / "Dockerfile").read_text()  # the GPU image adds the gpu extra


def test_compose_runs_web_workers_postgres_and_redis_from_the_environment():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert {"web", "worker", "beat", "gpu-worker", "postgres", "redis"} <= set(services)
    for name in ("postgres", "redis"):
        assert re.fullmatch(r"[\w-]+:\d+\.\d+(\.\d+)?[\w.-]*", services[name]["image"]), services[name]["image"]
        assert services[name]["healthcheck"]["test"]
    for name in ("web", "worker", "beat", "gpu-worker"):
        service = services[name]
        assert service["build"]["context"] == "."
        env = service["environment"]
        assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
        assert env["REDIS_URL"] == "redis://redis:6379/0"
        assert env["SECRET_KEY"].startswith("${SECRET_KEY:?")  # required, never a default baked in
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert "media:/data/media" in service["volumes"]
    assert "8000" in services["web"]["ports"][0] and "migrate" in " ".join(services["web"]["command"])
    assert "beat" in services["beat"]["command"]
    gpu = services["gpu-worker"]
    assert gpu["profiles"] == ["gpu"] and gpu["build"]["args"]["EXTRAS"] == "[gpu,s3]"
    assert gpu["command"][gpu["command"].index("-Q") + 1] == "gpu" and "--prefetch-multiplier" in gpu["command"]
    assert gpu["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert set(compose["volumes"]) >= {"postgres", "redis", "media"}
    # Every ${VAR} it reads is documented in the README.
    readme = (ROOT / "README.md").read_text()
    for variable in set(re.findall(r"\$\{(\w+)", (ROOT / "compose.yaml").read_text())):
        assert variable in readme, f"{variable} is not documented in README.md"
